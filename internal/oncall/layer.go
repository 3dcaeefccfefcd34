package oncall

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// defaultHandoffTime is the CRD's default, for specs that did not go through the API
// server.
const defaultHandoffTime = "09:00"

// layer is a compiled ScheduleLayer; all times are civil seconds.
type layer struct {
	name       string
	begin, end int64 // first shift's start; end is never when the layer does not end
	rotation   int64 // seconds
	responders []klaxonv1.ObjectReference
	// rotates is whether consecutive shifts ever have different responders; when not,
	// shift boundaries never change who the layer puts on call.
	rotates bool
	// windows are the merged restriction windows, sorted; nil means always on.
	windows []window
}

// window is a span of the week in seconds since Sunday 00:00; end may run past the end
// of the week, into the next.
type window struct{ start, end int64 }

func compileLayer(l klaxonv1.ScheduleLayer) (layer, error) {
	cl := layer{name: l.Name, end: never, responders: slices.Clone(l.Responders)}
	handoff := l.HandoffTime
	if handoff == "" {
		handoff = defaultHandoffTime
	}
	at, err := parseClock(handoff)
	if err != nil {
		return layer{}, fmt.Errorf("handoffTime: %w", err)
	}
	start, err := parseDate(l.Start)
	if err != nil {
		return layer{}, fmt.Errorf("start: %w", err)
	}
	cl.begin = start + at
	if l.End != "" {
		end, err := parseDate(l.End)
		if err != nil {
			return layer{}, fmt.Errorf("end: %w", err)
		}
		if end <= start {
			return layer{}, fmt.Errorf("end: %s is not after start %s", l.End, l.Start)
		}
		cl.end = end + at
	}
	switch r := l.RotationLength.Duration; {
	case r <= 0:
		return layer{}, fmt.Errorf("rotationLength: must be positive, got %s", r)
	case r%time.Second != 0:
		// Keeps shift arithmetic in whole seconds; nobody rotates mid-second.
		return layer{}, fmt.Errorf("rotationLength: must be a whole number of seconds, got %s", r)
	default:
		cl.rotation = int64(r / time.Second)
	}
	if len(l.Responders) == 0 {
		return layer{}, errors.New("responders: must name at least one responder")
	}
	for i, r := range l.Responders {
		if r != l.Responders[(i+1)%len(l.Responders)] {
			cl.rotates = true
		}
	}
	if cl.windows, err = compileWindows(l.Restrictions); err != nil {
		return layer{}, err
	}
	return cl, nil
}

// at returns who the layer puts on call at civil time c, if anyone.
func (l *layer) at(c int64) (klaxonv1.ObjectReference, bool) {
	if c < l.begin || c >= l.end || !l.inWindow(c) {
		return klaxonv1.ObjectReference{}, false
	}
	k := (c - l.begin) / l.rotation
	return l.responders[k%int64(len(l.responders))], true
}

// next returns the first civil time after c at which the layer may change who it puts
// on call, or never.
func (l *layer) next(c int64) int64 {
	if c < l.begin {
		return l.begin
	}
	if c >= l.end {
		return never
	}
	next := l.end
	if l.rotates {
		// Some pair of consecutive responders differs, so a change is at most
		// len(responders) shifts away.
		n := int64(len(l.responders))
		k := (c - l.begin) / l.rotation
		for j := k + 1; j <= k+n; j++ {
			if l.responders[(j-1)%n] != l.responders[j%n] {
				next = min(next, l.begin+j*l.rotation)
				break
			}
		}
	}
	if l.windows != nil {
		next = min(next, l.nextEdge(c))
	}
	return next
}

func (l *layer) inWindow(c int64) bool {
	if l.windows == nil {
		return true
	}
	sow := secondOfWeek(c)
	for _, w := range l.windows {
		// This week's window, or last week's running into this one.
		if w.start <= sow && sow < w.end || w.start <= sow+week && sow+week < w.end {
			return true
		}
	}
	return false
}

// nextEdge returns the first window start or end after civil time c.
func (l *layer) nextEdge(c int64) int64 {
	sunday := c - secondOfWeek(c)
	next := never
	for _, w := range l.windows {
		// Last week's window may end this week; next week's surely starts after c.
		for base := sunday - week; base <= sunday+week; base += week {
			for _, e := range [2]int64{base + w.start, base + w.end} {
				if e > c && e < next {
					next = e
				}
			}
		}
	}
	return next
}

var weekdays = map[klaxonv1.Weekday]time.Weekday{
	"Sunday": time.Sunday, "Monday": time.Monday, "Tuesday": time.Tuesday,
	"Wednesday": time.Wednesday, "Thursday": time.Thursday, "Friday": time.Friday,
	"Saturday": time.Saturday,
}

// compileWindows turns restrictions into disjoint weekly windows, nil when they cover
// the whole week, so that every window edge is a change of whether the layer is on.
func compileWindows(rs []klaxonv1.Restriction) ([]window, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	var ws []window
	for i, r := range rs {
		start, err := parseClock(r.StartTime)
		if err != nil {
			return nil, fmt.Errorf("restrictions[%d].startTime: %w", i, err)
		}
		end, err := parseClock(r.EndTime)
		if err != nil {
			return nil, fmt.Errorf("restrictions[%d].endTime: %w", i, err)
		}
		if end <= start {
			end += day
		}
		days := r.DaysOfWeek
		if len(days) == 0 {
			days = []klaxonv1.Weekday{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
		}
		for j, d := range days {
			wd, ok := weekdays[d]
			if !ok {
				return nil, fmt.Errorf("restrictions[%d].daysOfWeek[%d]: unknown day %q", i, j, d)
			}
			base := int64(wd) * day
			ws = append(ws, window{base + start, base + end})
		}
	}
	return mergeWindows(ws), nil
}

func mergeWindows(ws []window) []window {
	slices.SortFunc(ws, func(a, b window) int { return cmp.Compare(a.start, b.start) })
	var out []window
	for _, w := range ws {
		if n := len(out); n > 0 && w.start <= out[n-1].end {
			out[n-1].end = max(out[n-1].end, w.end)
			continue
		}
		out = append(out, w)
	}
	// The week wraps: a window running past its end joins the first ones of the next.
	for len(out) > 1 && out[len(out)-1].end >= out[0].start+week {
		out[len(out)-1].end = max(out[len(out)-1].end, out[0].end+week)
		out = out[1:]
	}
	if len(out) == 1 && out[0].end-out[0].start >= week {
		return nil
	}
	return out
}

// parseDate parses YYYY-MM-DD into the civil time of its midnight.
func parseDate(s string) (int64, error) {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return 0, fmt.Errorf("invalid date %q, want YYYY-MM-DD", s)
	}
	return d.Unix(), nil
}

// parseClock parses HH:MM (00:00 to 23:59) into seconds since midnight. It is stricter
// than time.Parse, which takes "9:00".
func parseClock(s string) (int64, error) {
	bad := fmt.Errorf("invalid time %q, want HH:MM", s)
	if len(s) != 5 || s[2] != ':' {
		return 0, bad
	}
	digits := [4]byte{s[0], s[1], s[3], s[4]}
	for _, d := range digits {
		if d < '0' || d > '9' {
			return 0, bad
		}
	}
	h := int64(digits[0]-'0')*10 + int64(digits[1]-'0')
	m := int64(digits[2]-'0')*10 + int64(digits[3]-'0')
	if h > 23 || m > 59 {
		return 0, bad
	}
	return h*3600 + m*60, nil
}
