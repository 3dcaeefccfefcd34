package intake

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestGroupKey(t *testing.T) {
	labels := map[string]string{"alertname": "Disk full", "service": `api "edge"`, "path": "/var/lib,x"}
	long := strings.Repeat("x", MaxGroupKeyLength+1)
	for _, tc := range []struct {
		name      string
		groupBy   []string
		labels    map[string]string
		senderKey string
		want      string
	}{
		{"sorted, quoted", []string{"service", "alertname"}, labels, "fp", `{alertname="Disk full",service="api \"edge\""}`},
		{"duplicates once", []string{"alertname", "alertname"}, labels, "fp", `{alertname="Disk full"}`},
		{"missing label is empty", []string{"alertname", "team"}, labels, "fp", `{alertname="Disk full",team=""}`},
		{"separators in values stay unambiguous", []string{"path"}, labels, "", `{path="/var/lib,x"}`},
		{"sender key without groupBy", nil, labels, "{}:{alertname=\"Disk full\"}", "{}:{alertname=\"Disk full\"}"},
		{"no labels at all", []string{"a"}, nil, "fp", `{a=""}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := GroupKey(tc.groupBy, tc.labels, tc.senderKey); got != tc.want {
				t.Errorf("GroupKey = %s, want %s", got, tc.want)
			}
		})
	}
	hashed := GroupKey(nil, nil, long)
	if !strings.HasPrefix(hashed, "sha256:") || len(hashed) != len("sha256:")+64 || hashed == GroupKey(nil, nil, long+"y") {
		t.Errorf("long key became %q", hashed)
	}
	if got := GroupKey([]string{"v"}, map[string]string{"v": long}, ""); !strings.HasPrefix(got, "sha256:") {
		t.Errorf("long label key became %q", got)
	}
}

func TestIncidentName(t *testing.T) {
	groupKey := `{alertname="Disk full",service="api"}`
	for _, tc := range []struct {
		source, prefix string
	}{
		{"node-exporter", "node-exporter-"},
		{"alertmanager.prod", "alertmanager-prod-"},
		{"My_Source!!", "my-source-"},
		{"---", "alert-"},
		{"", "alert-"},
		{"Ünïcode-ßource", "n-code-ource-"},
		{strings.Repeat("a", 253), strings.Repeat("a", 40)},
	} {
		for _, seq := range []int{0, 1, 12345, -3} {
			name := IncidentName(tc.source, groupKey, seq)
			if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
				t.Errorf("IncidentName(%q, %d) = %q: %v", tc.source, seq, name, errs)
			}
			if errs := validation.IsValidLabelValue(name); len(errs) > 0 {
				t.Errorf("IncidentName(%q, %d) = %q is not a label value: %v", tc.source, seq, name, errs)
			}
			if !strings.HasPrefix(name, tc.prefix) {
				t.Errorf("IncidentName(%q) = %q, want prefix %q", tc.source, name, tc.prefix)
			}
			if name != IncidentName(tc.source, groupKey, seq) {
				t.Errorf("IncidentName(%q) is not deterministic", tc.source)
			}
		}
	}
	if a, b := IncidentName(strings.Repeat("a", 253), groupKey, 0), IncidentName(strings.Repeat("a", 253), groupKey, 9999); a[:41] != b[:41] {
		t.Errorf("sequences 0 and 9999 have different prefixes: %s, %s", a, b)
	}
	base := IncidentName("am", groupKey, 0)
	for what, other := range map[string]string{
		"next sequence": IncidentName("am", groupKey, 1),
		"other group":   IncidentName("am", groupKey+" ", 0),
		"other source":  IncidentName("am2", groupKey, 0),
	} {
		if other == base {
			t.Errorf("%s has the same name %s", what, base)
		}
	}
	if !strings.HasSuffix(IncidentName("am", groupKey, -1), "-0") {
		t.Error("a negative sequence does not count as 0")
	}
	// Sources whose names differ only past the readable prefix still get distinct names.
	a, b := strings.Repeat("s", 60)+"a", strings.Repeat("s", 60)+"b"
	if IncidentName(a, groupKey, 0) == IncidentName(b, groupKey, 0) {
		t.Error("long source names collide")
	}
}

func TestLabelsFingerprint(t *testing.T) {
	// prometheus/common model.labelSetToFingerprint's own test vectors.
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{}, "cbf29ce484222325"},
		{map[string]string{"name": "garland, briggs", "fear": "love is not enough"}, "507a62d79ee76c9a"},
	} {
		if got := LabelsFingerprint(tc.labels); got != tc.want {
			t.Errorf("LabelsFingerprint(%v) = %s, want %s", tc.labels, got, tc.want)
		}
	}
}

// FuzzIncidentName: any source name, group key and sequence give a valid name.
func FuzzIncidentName(f *testing.F) {
	f.Add("alertmanager", `{alertname="x"}`, 0)
	f.Add("", "", -1)
	f.Add("Ä.-_b", "\x00", 1<<62)
	f.Fuzz(func(t *testing.T, source, groupKey string, seq int) {
		name := IncidentName(source, groupKey, seq)
		if errs := validation.IsDNS1123Label(name); len(errs) > 0 {
			t.Fatalf("IncidentName(%q, %d) = %q: %v", source, seq, name, errs)
		}
	})
}
