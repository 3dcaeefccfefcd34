package notify

import (
	"testing"

	"k8s.io/apimachinery/pkg/types"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Two incidents paging the same responder at the same level through the same
// channel have the same log key; their deliveries must not share a key, or a
// webhook receiver dropping processed Idempotency-Keys drops the second page (found
// by test/load/paging).
func TestDeliveryKeyTellsIncidentsApart(t *testing.T) {
	lk := Key(0, klaxonv1.EventTriggered, 1, 0, "Responder/shop/alice", Destination("shop/pager", "alice"))
	a := DeliveryKey(types.UID("6f1c2a9e-3b7d-4c1e-9a51-0d2f8e4b7c13"), lk)
	b := DeliveryKey(types.UID("0b9d5e27-8c41-4f6a-b2d3-91e7a4c05f88"), lk)
	if a == b {
		t.Fatalf("two incidents' deliveries share the key %q", a)
	}
	if again := DeliveryKey(types.UID("6f1c2a9e-3b7d-4c1e-9a51-0d2f8e4b7c13"), lk); again != a {
		t.Errorf("the same delivery has two keys, %q and %q: a retry would not be recognised", a, again)
	}
}
