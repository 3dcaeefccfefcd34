package incident

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// The decisions a reconcile takes together are one record, in the order taken, cut
// only at the CRD's bound; the object's name follows the record's first decision.
func TestDecisionRecordsKeepDecisionsTakenTogether(t *testing.T) {
	inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "db-down", Namespace: "acme"}}
	var ds []Decision
	for i := range MaxRecordDecisions + 1 {
		ds = append(ds, Decision{Point: "actions", ID: fmt.Sprintf("d%02d", i), Time: time.Unix(1700000000, 0), Summary: "allow step " + strings.Repeat("x", 20),
			Input: []byte(`{"tenant":"acme"}`), Output: map[string]bool{"allow": i%2 == 0}})
	}
	ds[0].Point = "triage"

	specs, err := DecisionRecords(inc, ds)
	if err != nil {
		t.Fatal(err)
	}
	if len(specs) != 2 || len(specs[0].Decisions) != MaxRecordDecisions || len(specs[1].Decisions) != 1 {
		t.Fatalf("got %d records, want %d decisions then 1", len(specs), MaxRecordDecisions)
	}
	if want := "triage: allow step xxxxxxxxxxxxxxxxxxxx; actions: allow"; !strings.HasPrefix(specs[0].Summary, want) || len(specs[0].Summary) > 512 {
		t.Fatalf("summary %q, want it to start %q and fit 512 bytes", specs[0].Summary, want)
	}
	if RecordID(specs[0]) != "d00" || RecordID(specs[1]) != fmt.Sprintf("d%02d", MaxRecordDecisions) {
		t.Fatalf("record ids %q, %q", RecordID(specs[0]), RecordID(specs[1]))
	}
	first := specs[0].Decisions[0]
	if specs[0].Incident != "db-down" || first.Point != "triage" || string(first.Input) != `{"tenant":"acme"}` ||
		first.Output == nil || string(first.Output.Raw) != `{"allow":true}` {
		t.Fatalf("first decision recorded as %+v", first)
	}
	if obj := DecisionObject(inc, specs[1]); obj.Name != "db-down-d32" || obj.Namespace != "acme" ||
		obj.Labels[klaxonv1.LabelIncident] != LabelValue("db-down") {
		t.Fatalf("object %s/%s labels %v", obj.Namespace, obj.Name, obj.Labels)
	}

	if specs, err := DecisionRecords(inc, nil); err != nil || len(specs) != 0 {
		t.Fatalf("no decisions gave %d records, %v", len(specs), err)
	}
}
