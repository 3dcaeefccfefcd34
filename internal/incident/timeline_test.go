package incident

import (
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

func entries(from, n int) []klaxonv1.TimelineEntry {
	out := make([]klaxonv1.TimelineEntry, n)
	for i := range out {
		out[i] = klaxonv1.TimelineEntry{Time: metav1.NewTime(t0.Add(time.Duration(from+i) * time.Second)),
			Type: "NoteAdded", Message: fmt.Sprint(from + i)}
	}
	return out
}

func TestSegments(t *testing.T) {
	inc := newIncident()
	inc.Status.Timeline = entries(0, MaxTimeline)
	if segs, _ := Segments(inc); len(segs) != 0 {
		t.Fatalf("a timeline at its bound was archived")
	}

	inc.Status.Timeline = entries(0, MaxTimeline+SegmentSize+1)
	segs, rest := Segments(inc)
	if len(segs) != 2 || len(rest) != MaxTimeline+SegmentSize+1-2*SegmentSize {
		t.Fatalf("got %d segments and %d remaining", len(segs), len(rest))
	}
	if segs[0].Name != "checkout-timeline-1" || segs[1].Spec.Sequence != 2 || segs[1].Spec.Entries[0].Message != fmt.Sprint(SegmentSize) {
		t.Errorf("segments out of order: %s %d %q", segs[0].Name, segs[1].Spec.Sequence, segs[1].Spec.Entries[0].Message)
	}
	RecordArchived(&inc.Status, segs, rest)
	if inc.Status.TimelineArchive.Segments != 2 || inc.Status.TimelineArchive.Entries != 2*SegmentSize {
		t.Errorf("archive status %+v", inc.Status.TimelineArchive)
	}

	// The next segment continues the sequence.
	inc.Status.Timeline = append(inc.Status.Timeline, entries(1000, MaxTimeline)...)
	segs, _ = Segments(inc)
	if segs[0].Spec.Sequence != 3 {
		t.Errorf("next segment sequence %d, want 3", segs[0].Spec.Sequence)
	}
}

func TestNamesStayValid(t *testing.T) {
	long := strings.Repeat("a", 253)
	if n := SegmentName(long, 12); len(n) > 253 || !strings.HasSuffix(n, "-timeline-12") {
		t.Errorf("segment name %q (%d)", n, len(n))
	}
	if v := LabelValue(long); len(v) > 63 {
		t.Errorf("label value %d long", len(v))
	}
	if LabelValue(long) == LabelValue(long[:252]+"b") {
		t.Errorf("different incidents share a label value")
	}
	if LabelValue("short") != "short" {
		t.Errorf("short names are kept")
	}
}
