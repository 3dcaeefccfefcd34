package oncall

import (
	"fmt"
	"slices"
	"time"
	_ "time/tzdata" // zones must resolve on images without a tz database

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// OverrideLayer is the Shift.Layer of a responder put on call by an override.
const OverrideLayer = "override"

const (
	// searchYears and maxSteps bound NextHandoff: a schedule that does not change
	// within two years, or within that many boundaries where nobody changes (window
	// edges and layer changes that leave the same person on call), is reported as not
	// changing, so a reconciler never spins on a schedule that never hands off.
	searchYears = 2
	maxSteps    = 10000
)

// Layers are evaluated only from earliest to latest: the years a Kubernetes timestamp
// can hold, and far enough from int64 limits that civil arithmetic cannot overflow.
var (
	earliest = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	latest   = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
)

// Schedule is a compiled OnCallSchedule: time zone loaded, times parsed, restriction
// windows merged. It is immutable and safe for concurrent use.
type Schedule struct {
	loc       *time.Location
	layers    []layer
	overrides []override
}

type override struct {
	responder  klaxonv1.ObjectReference
	start, end time.Time
}

// Shift says who is on call at an instant and why.
type Shift struct {
	// Responders on call (at most one today); empty when nobody is.
	Responders []klaxonv1.ObjectReference
	// Layer is the name of the layer that put them on call, or OverrideLayer.
	Layer string
}

// Handoff is the next change of who is on call.
type Handoff struct {
	// At is when the change happens, in the schedule's time zone.
	At time.Time
	// Next is who is on call from At.
	Next Shift
}

// Compile validates spec and compiles it. Errors name the offending field, e.g.
// `layers[1].start: ...`, so they can go into a condition message as they are.
//
// Empty timeZone and handoffTime mean the CRD defaults (UTC, 09:00); a zero
// rotationLength is an error, since the CRD always defaults it and zero is a mistake.
func Compile(spec klaxonv1.OnCallScheduleSpec) (*Schedule, error) {
	loc, err := loadLocation(spec.TimeZone)
	if err != nil {
		return nil, err
	}
	s := &Schedule{loc: loc}
	for i, l := range spec.Layers {
		cl, err := compileLayer(l)
		if err != nil {
			return nil, fmt.Errorf("layers[%d].%w", i, err)
		}
		s.layers = append(s.layers, cl)
	}
	for i, o := range spec.Overrides {
		if !o.End.After(o.Start.Time) {
			return nil, fmt.Errorf("overrides[%d].end: must be after start", i)
		}
		s.overrides = append(s.overrides, override{responder: o.Responder, start: o.Start.Time, end: o.End.Time})
	}
	return s, nil
}

func loadLocation(name string) (*time.Location, error) {
	// "Local" would mean whatever zone the controller's machine has.
	if name == "Local" {
		return nil, fmt.Errorf("timeZone: %q is not an IANA time zone", name)
	}
	loc, err := time.LoadLocation(name) // "" is UTC
	if err != nil {
		return nil, fmt.Errorf("timeZone: unknown time zone %q", name)
	}
	return loc, nil
}

// At returns who is on call at t.
func (s *Schedule) At(t time.Time) Shift {
	for i := len(s.overrides) - 1; i >= 0; i-- {
		if o := s.overrides[i]; !t.Before(o.start) && t.Before(o.end) {
			return Shift{Responders: []klaxonv1.ObjectReference{o.responder}, Layer: OverrideLayer}
		}
	}
	if t.Before(earliest) || !t.Before(latest) {
		return Shift{}
	}
	c := s.clock(t)
	for i := len(s.layers) - 1; i >= 0; i-- {
		if r, ok := s.layers[i].at(c); ok {
			return Shift{Responders: []klaxonv1.ObjectReference{r}, Layer: s.layers[i].name}
		}
	}
	return Shift{}
}

// NextHandoff returns the first instant strictly after t at which the responders on
// call change, and who is on call from then. Boundaries where the same people stay on
// call (a layer ending while the next starts with the same person, an override for the
// person already on call) are not handoffs. It reports false when nothing changes
// within two years of t, or within 10000 boundaries that change nobody.
func (s *Schedule) NextHandoff(t time.Time) (Handoff, bool) {
	now := s.At(t).Responders
	limit := t.AddDate(searchYears, 0, 0)
	for range maxSteps {
		next, ok := s.nextBoundary(t)
		if !ok || next.After(limit) {
			return Handoff{}, false
		}
		if sh := s.At(next); !slices.Equal(sh.Responders, now) {
			return Handoff{At: next.In(s.loc), Next: sh}, true
		}
		t = next
	}
	return Handoff{}, false
}

// nextBoundary returns the first instant after t at which who is on call may change:
// the next edge of an override, a layer's start or end, a shift change or a window
// edge. Boundaries hidden under whatever is on call at t are skipped; the end of what
// hides them is a boundary itself.
func (s *Schedule) nextBoundary(t time.Time) (time.Time, bool) {
	var next time.Time
	found := false
	consider := func(b time.Time) {
		if b.After(t) && (!found || b.Before(next)) {
			next, found = b, true
		}
	}
	hidden := false
	for _, o := range s.overrides {
		consider(o.start)
		consider(o.end)
		hidden = hidden || !t.Before(o.start) && t.Before(o.end)
	}
	switch {
	case t.Before(earliest):
		consider(earliest)
	case t.Before(latest):
		consider(latest)
		if !hidden {
			if b, ok := s.layerBoundary(t); ok {
				consider(b)
			}
		}
	}
	return next, found
}

// layerBoundary returns the first instant after t at which the layers may change who
// they put on call. Layers below the top one on call stay hidden until it changes.
func (s *Schedule) layerBoundary(t time.Time) (time.Time, bool) {
	c := s.clock(t)
	next := never
	for i := len(s.layers) - 1; i >= 0; i-- {
		next = min(next, s.layers[i].next(c))
		if _, on := s.layers[i].at(c); on {
			break
		}
	}
	if next == never {
		return time.Time{}, false
	}
	return s.instant(next), true
}
