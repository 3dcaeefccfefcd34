package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

const (
	// MaxTimeline is how many entries status.timeline keeps. The CRD allows 100, but
	// every status write re-sends and re-validates the whole list, so the controller
	// archives at half that.
	MaxTimeline = 50
	// SegmentSize is how many of the oldest entries move to one IncidentTimeline when
	// the timeline is over its bound: half, so archiving happens rarely.
	SegmentSize = 25
)

// AppendTimeline appends an entry to the incident's timeline. The timeline may grow
// past MaxTimeline here; Segments says what to move out before status is written.
func AppendTimeline(st *klaxonv1.IncidentStatus, e klaxonv1.TimelineEntry) {
	e.Message = truncate(e.Message)
	st.Timeline = append(st.Timeline, e)
}

// Segments returns the IncidentTimeline objects that take the oldest entries while the
// timeline is over its bound, and the timeline that remains. Segment names are
// deterministic (incident name and sequence), so a segment created before a failed
// status write is found again instead of duplicated.
func Segments(inc *klaxonv1.Incident) ([]klaxonv1.IncidentTimeline, []klaxonv1.TimelineEntry) {
	rest := inc.Status.Timeline
	var archived int32
	if inc.Status.TimelineArchive != nil {
		archived = inc.Status.TimelineArchive.Segments
	}
	var segs []klaxonv1.IncidentTimeline
	for len(rest) > MaxTimeline {
		archived++
		seg := klaxonv1.IncidentTimeline{
			Spec: klaxonv1.IncidentTimelineSpec{
				Incident: inc.Name,
				Sequence: archived,
				Entries:  append([]klaxonv1.TimelineEntry(nil), rest[:SegmentSize]...),
			},
		}
		seg.Name = SegmentName(inc.Name, archived)
		seg.Namespace = inc.Namespace
		seg.Labels = map[string]string{klaxonv1.LabelIncident: LabelValue(inc.Name)}
		segs = append(segs, seg)
		rest = rest[SegmentSize:]
	}
	return segs, rest
}

// RecordArchived updates status after segments were stored.
func RecordArchived(st *klaxonv1.IncidentStatus, segs []klaxonv1.IncidentTimeline, rest []klaxonv1.TimelineEntry) {
	if len(segs) == 0 {
		return
	}
	if st.TimelineArchive == nil {
		st.TimelineArchive = &klaxonv1.TimelineArchiveStatus{}
	}
	for _, s := range segs {
		st.TimelineArchive.Segments = s.Spec.Sequence
		st.TimelineArchive.Entries += int64(len(s.Spec.Entries))
	}
	st.Timeline = append([]klaxonv1.TimelineEntry(nil), rest...)
}

// SegmentName is the name of an incident's n-th timeline segment.
func SegmentName(incident string, n int32) string {
	suffix := fmt.Sprintf("-timeline-%d", n)
	if len(incident)+len(suffix) <= 253 {
		return incident + suffix
	}
	return shortHash(incident, 253-len(suffix)) + suffix
}

// LabelValue is a valid label value that identifies an incident by name (names may be
// longer than the 63 characters a label value allows).
func LabelValue(incident string) string {
	if len(incident) <= 63 {
		return incident
	}
	return shortHash(incident, 63)
}

// shortHash shortens s to n characters, keeping a prefix for people and a hash for
// uniqueness.
func shortHash(s string, n int) string {
	sum := sha256.Sum256([]byte(s))
	h := hex.EncodeToString(sum[:])[:16]
	keep := n - len(h) - 1
	if keep > len(s) {
		keep = len(s)
	}
	prefix := s[:keep]
	for len(prefix) > 0 && !isAlnum(prefix[len(prefix)-1]) {
		prefix = prefix[:len(prefix)-1]
	}
	if prefix == "" {
		return h
	}
	return prefix + "-" + h
}

func isAlnum(b byte) bool {
	return (b >= 'a' && b <= 'z') || (b >= '0' && b <= '9') || (b >= 'A' && b <= 'Z')
}
