package controllers

import (
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

func TestSameStatus(t *testing.T) {
	stored := &klaxonv1.Incident{Status: klaxonv1.IncidentStatus{
		State:       klaxonv1.StateTriggered,
		TriggeredAt: &metav1.Time{Time: time.Date(2026, 11, 27, 21, 0, 0, 0, time.UTC)},
	}}
	for _, tc := range []struct {
		name   string
		change func(*klaxonv1.Incident)
		same   bool
	}{
		{"unchanged", func(*klaxonv1.Incident) {}, true},
		// What a reconcile holds in memory and what the API server gives back.
		{"empty list for none", func(i *klaxonv1.Incident) { i.Status.Timeline = []klaxonv1.TimelineEntry{} }, true},
		{"time below the stored precision", func(i *klaxonv1.Incident) {
			i.Status.TriggeredAt.Time = i.Status.TriggeredAt.Add(300 * time.Millisecond)
		}, true},
		{"spec is not status", func(i *klaxonv1.Incident) { i.Spec.Title = "other" }, true},
		{"state", func(i *klaxonv1.Incident) { i.Status.State = klaxonv1.StateAcknowledged }, false},
		{"a timeline entry", func(i *klaxonv1.Incident) {
			i.Status.Timeline = append(i.Status.Timeline, klaxonv1.TimelineEntry{Message: "paged"})
		}, false},
		{"a second later", func(i *klaxonv1.Incident) { i.Status.TriggeredAt.Time = i.Status.TriggeredAt.Add(time.Second) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			changed := stored.DeepCopy()
			tc.change(changed)
			if got := sameStatus(stored, changed); got != tc.same {
				t.Errorf("sameStatus = %v, want %v", got, tc.same)
			}
		})
	}
}

// TestStatusListsAreOmitempty guards sameStatus: it compares statuses as JSON, where a
// nil and an empty list encode alike only when the field is omitempty. A status list
// without it would make every reconcile that holds [] where the API server returned
// nothing write again, forever.
func TestStatusListsAreOmitempty(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := klaxonv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	seen := map[reflect.Type]bool{}
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		for typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ.PkgPath() != reflect.TypeFor[klaxonv1.Incident]().PkgPath() {
			return
		}
		seen[typ] = true
		for f := range typ.Fields() {
			tag := f.Tag.Get("json")
			name := path + "." + strings.Split(tag, ",")[0]
			switch f.Type.Kind() {
			case reflect.Slice, reflect.Map:
				if !strings.Contains(tag, ",omitempty") {
					t.Errorf("%s (%s) is not omitempty", name, f.Type)
				}
				walk(name, f.Type.Elem())
			default:
				walk(name, f.Type)
			}
		}
	}
	kinds := 0
	for _, typ := range scheme.KnownTypes(klaxonv1.GroupVersion) {
		if f, ok := typ.FieldByName("Status"); ok {
			kinds++
			walk(typ.Name()+".status", f.Type)
		}
	}
	if kinds < 10 {
		t.Fatalf("found %d kinds with a status; the scheme lost some", kinds)
	}
}
