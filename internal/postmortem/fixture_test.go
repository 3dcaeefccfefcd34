package postmortem

import (
	"encoding/json"
	"os"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// loadFixture reads the SEV1 incident of testdata with its archived timeline and the
// inputs of its policy decisions.
func loadFixture(t testing.TB) (*v1alpha1.Incident, []v1alpha1.TimelineEntry, map[string]json.RawMessage) {
	t.Helper()
	var inc v1alpha1.Incident
	readYAML(t, "testdata/incident.yaml", &inc)
	var history []v1alpha1.TimelineEntry
	readYAML(t, "testdata/history.yaml", &history)
	b, err := os.ReadFile("testdata/inputs.json")
	if err != nil {
		t.Fatal(err)
	}
	var inputs map[string]json.RawMessage
	if err := json.Unmarshal(b, &inputs); err != nil {
		t.Fatal(err)
	}
	return &inc, history, inputs
}

func readYAML(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// fixtureRecord is the fixture's record.
func fixtureRecord(t testing.TB) Record {
	inc, history, inputs := loadFixture(t)
	return FromIncident(inc, history, inputs)
}
