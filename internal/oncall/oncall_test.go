package oncall

import (
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// refs names responders.
func refs(names ...string) []klaxonv1.ObjectReference {
	out := make([]klaxonv1.ObjectReference, 0, len(names))
	for _, n := range names {
		out = append(out, klaxonv1.ObjectReference{Name: n})
	}
	return out
}

// rotation is a layer starting at start's handoff time, handing off every rot.
func rotation(name, start, handoff string, rot time.Duration, responders ...string) klaxonv1.ScheduleLayer {
	return klaxonv1.ScheduleLayer{
		Name:           name,
		Start:          start,
		HandoffTime:    handoff,
		RotationLength: metav1.Duration{Duration: rot},
		Responders:     refs(responders...),
	}
}

// restricted returns l limited to one window on days (every day when none).
func restricted(l klaxonv1.ScheduleLayer, from, to string, days ...klaxonv1.Weekday) klaxonv1.ScheduleLayer {
	l.Restrictions = append(l.Restrictions, klaxonv1.Restriction{DaysOfWeek: days, StartTime: from, EndTime: to})
	return l
}

func overrideOf(responder, start, end string) klaxonv1.ScheduleOverride {
	return klaxonv1.ScheduleOverride{
		Responder: klaxonv1.ObjectReference{Name: responder},
		Start:     metav1.NewTime(instant(start)),
		End:       metav1.NewTime(instant(end)),
	}
}

// instant parses an RFC 3339 timestamp; every instant in these tests is explicit.
func instant(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func compile(t *testing.T, spec klaxonv1.OnCallScheduleSpec) *Schedule {
	t.Helper()
	s, err := Compile(spec)
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

// who renders a shift as "name/layer", or "nobody".
func who(sh Shift) string {
	if len(sh.Responders) == 0 {
		return "nobody"
	}
	var names []string
	for _, r := range sh.Responders {
		names = append(names, r.Name)
	}
	return strings.Join(names, ",") + "/" + sh.Layer
}

var (
	mon, tue, wed, thu, fri, sun klaxonv1.Weekday = "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Sunday"
	sat                          klaxonv1.Weekday = "Saturday"
	weekdays5                                     = []klaxonv1.Weekday{mon, tue, wed, thu, fri}
)

const (
	daily  = 24 * time.Hour
	weekly = 168 * time.Hour
)

type atCase struct {
	at   string
	want string
}

func checkAt(t *testing.T, s *Schedule, cases []atCase) {
	t.Helper()
	for _, c := range cases {
		if got := who(s.At(instant(c.at))); got != c.want {
			t.Errorf("At(%s) = %s, want %s", c.at, got, c.want)
		}
	}
}

func TestAtWeeklyRotationUTC(t *testing.T) {
	s := compile(t, klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{
		rotation("weekly", "2026-01-05", "09:00", weekly, "alice", "bob", "carol"),
	}})
	checkAt(t, s, []atCase{
		{"2026-01-05T08:59:59.999999999Z", "nobody"},
		{"2026-01-05T09:00:00Z", "alice/weekly"},
		{"2026-01-08T12:00:00Z", "alice/weekly"},
		{"2026-01-12T08:59:59.999999999Z", "alice/weekly"},
		{"2026-01-12T09:00:00Z", "bob/weekly"},
		{"2026-01-12T10:00:00+01:00", "bob/weekly"}, // the same instant, written in another zone
		{"2026-01-19T09:00:00Z", "carol/weekly"},
		{"2026-01-26T08:59:59Z", "carol/weekly"},
		{"2026-01-26T09:00:00Z", "alice/weekly"},
		{"2027-01-04T08:59:59Z", "alice/weekly"}, // shift 51
		{"2027-01-04T09:00:00Z", "bob/weekly"},   // shift 52
	})
}

func TestAtLayerEnd(t *testing.T) {
	l := rotation("weekly", "2026-01-05", "09:00", weekly, "alice", "bob", "carol")
	l.End = "2026-01-26"
	s := compile(t, klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{l}})
	checkAt(t, s, []atCase{
		{"2026-01-26T08:59:59.999999999Z", "carol/weekly"},
		{"2026-01-26T09:00:00Z", "nobody"},
		{"2030-01-01T00:00:00Z", "nobody"},
	})
}

func TestDefaults(t *testing.T) {
	// Empty timeZone and handoffTime are the CRD defaults: UTC, 09:00.
	s := compile(t, klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{
		rotation("daily", "2026-01-05", "", daily, "alice", "bob"),
	}})
	checkAt(t, s, []atCase{
		{"2026-01-06T08:59:59Z", "alice/daily"},
		{"2026-01-06T09:00:00Z", "bob/daily"},
	})
}

// TestDSTHandoffs follows NextHandoff across daylight-saving changes: wall-clock
// rotations keep their local handoff time, so the shift spanning the change is shorter
// or longer in elapsed time.
func TestDSTHandoffs(t *testing.T) {
	cases := []struct {
		name    string
		zone    string
		layer   klaxonv1.ScheduleLayer
		from    string
		want    []string        // successive handoffs
		elapsed []time.Duration // between successive handoffs
	}{{
		name:    "Berlin daily, spring forward",
		zone:    "Europe/Berlin",
		layer:   rotation("daily", "2026-03-20", "09:00", daily, "alice", "bob"),
		from:    "2026-03-28T00:00:00+01:00",
		want:    []string{"2026-03-28T09:00:00+01:00", "2026-03-29T09:00:00+02:00", "2026-03-30T09:00:00+02:00"},
		elapsed: []time.Duration{23 * time.Hour, 24 * time.Hour},
	}, {
		name:    "Berlin daily, fall back",
		zone:    "Europe/Berlin",
		layer:   rotation("daily", "2026-10-20", "09:00", daily, "alice", "bob"),
		from:    "2026-10-24T00:00:00+02:00",
		want:    []string{"2026-10-24T09:00:00+02:00", "2026-10-25T09:00:00+01:00", "2026-10-26T09:00:00+01:00"},
		elapsed: []time.Duration{25 * time.Hour, 24 * time.Hour},
	}, {
		name:    "Berlin weekly, spring forward",
		zone:    "Europe/Berlin",
		layer:   rotation("weekly", "2026-03-16", "09:00", weekly, "alice", "bob"),
		from:    "2026-03-17T00:00:00+01:00",
		want:    []string{"2026-03-23T09:00:00+01:00", "2026-03-30T09:00:00+02:00", "2026-04-06T09:00:00+02:00"},
		elapsed: []time.Duration{167 * time.Hour, 168 * time.Hour},
	}, {
		name:    "Berlin weekly, fall back",
		zone:    "Europe/Berlin",
		layer:   rotation("weekly", "2026-10-12", "09:00", weekly, "alice", "bob"),
		from:    "2026-10-13T00:00:00+02:00",
		want:    []string{"2026-10-19T09:00:00+02:00", "2026-10-26T09:00:00+01:00", "2026-11-02T09:00:00+01:00"},
		elapsed: []time.Duration{169 * time.Hour, 168 * time.Hour},
	}, {
		name:    "New York daily, spring forward",
		zone:    "America/New_York",
		layer:   rotation("daily", "2026-03-01", "09:00", daily, "alice", "bob"),
		from:    "2026-03-07T00:00:00-05:00",
		want:    []string{"2026-03-07T09:00:00-05:00", "2026-03-08T09:00:00-04:00", "2026-03-09T09:00:00-04:00"},
		elapsed: []time.Duration{23 * time.Hour, 24 * time.Hour},
	}, {
		name:    "New York daily, fall back",
		zone:    "America/New_York",
		layer:   rotation("daily", "2026-10-25", "09:00", daily, "alice", "bob"),
		from:    "2026-10-31T00:00:00-04:00",
		want:    []string{"2026-10-31T09:00:00-04:00", "2026-11-01T09:00:00-05:00", "2026-11-02T09:00:00-05:00"},
		elapsed: []time.Duration{25 * time.Hour, 24 * time.Hour},
	}, {
		name:    "New York weekly, spring forward",
		zone:    "America/New_York",
		layer:   rotation("weekly", "2026-02-23", "09:00", weekly, "alice", "bob"),
		from:    "2026-02-24T00:00:00-05:00",
		want:    []string{"2026-03-02T09:00:00-05:00", "2026-03-09T09:00:00-04:00", "2026-03-16T09:00:00-04:00"},
		elapsed: []time.Duration{167 * time.Hour, 168 * time.Hour},
	}, {
		name:    "New York weekly, fall back",
		zone:    "America/New_York",
		layer:   rotation("weekly", "2026-10-19", "09:00", weekly, "alice", "bob"),
		from:    "2026-10-20T00:00:00-04:00",
		want:    []string{"2026-10-26T09:00:00-04:00", "2026-11-02T09:00:00-05:00", "2026-11-09T09:00:00-05:00"},
		elapsed: []time.Duration{169 * time.Hour, 168 * time.Hour},
	}, {
		name:    "Berlin 12h at 09:00 and 21:00, spring forward",
		zone:    "Europe/Berlin",
		layer:   rotation("halfday", "2026-03-27", "09:00", 12*time.Hour, "alice", "bob"),
		from:    "2026-03-28T12:00:00+01:00",
		want:    []string{"2026-03-28T21:00:00+01:00", "2026-03-29T09:00:00+02:00", "2026-03-29T21:00:00+02:00"},
		elapsed: []time.Duration{11 * time.Hour, 12 * time.Hour},
	}, {
		name:    "Berlin 12h at 09:00 and 21:00, fall back",
		zone:    "Europe/Berlin",
		layer:   rotation("halfday", "2026-10-20", "09:00", 12*time.Hour, "alice", "bob"),
		from:    "2026-10-24T12:00:00+02:00",
		want:    []string{"2026-10-24T21:00:00+02:00", "2026-10-25T09:00:00+01:00", "2026-10-25T21:00:00+01:00"},
		elapsed: []time.Duration{13 * time.Hour, 12 * time.Hour},
	}, {
		name:    "New York 12h at 09:00 and 21:00, spring forward",
		zone:    "America/New_York",
		layer:   rotation("halfday", "2026-03-01", "09:00", 12*time.Hour, "alice", "bob"),
		from:    "2026-03-07T12:00:00-05:00",
		want:    []string{"2026-03-07T21:00:00-05:00", "2026-03-08T09:00:00-04:00", "2026-03-08T21:00:00-04:00"},
		elapsed: []time.Duration{11 * time.Hour, 12 * time.Hour},
	}, {
		// 02:30 does not exist on 2026-03-29: the handoff happens when the clock jumps.
		name:    "Berlin daily at skipped 02:30",
		zone:    "Europe/Berlin",
		layer:   rotation("daily", "2026-03-20", "02:30", daily, "alice", "bob"),
		from:    "2026-03-28T00:00:00+01:00",
		want:    []string{"2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"},
		elapsed: []time.Duration{23*time.Hour + 30*time.Minute, 23*time.Hour + 30*time.Minute},
	}, {
		name:    "New York daily at skipped 02:30",
		zone:    "America/New_York",
		layer:   rotation("daily", "2026-03-01", "02:30", daily, "alice", "bob"),
		from:    "2026-03-07T00:00:00-05:00",
		want:    []string{"2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"},
		elapsed: []time.Duration{23*time.Hour + 30*time.Minute, 23*time.Hour + 30*time.Minute},
	}, {
		// 02:30 happens twice on 2026-10-25: the handoff is at the first, only.
		name:    "Berlin daily at repeated 02:30",
		zone:    "Europe/Berlin",
		layer:   rotation("daily", "2026-10-20", "02:30", daily, "alice", "bob"),
		from:    "2026-10-24T00:00:00+02:00",
		want:    []string{"2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"},
		elapsed: []time.Duration{24 * time.Hour, 25 * time.Hour},
	}, {
		name:    "New York daily at repeated 01:30",
		zone:    "America/New_York",
		layer:   rotation("daily", "2026-10-25", "01:30", daily, "alice", "bob"),
		from:    "2026-10-31T00:00:00-04:00",
		want:    []string{"2026-10-31T01:30:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"},
		elapsed: []time.Duration{24 * time.Hour, 25 * time.Hour},
	}, {
		// The shifts at 02:00 and 02:30 fall in the skipped hour and never happen;
		// the one at 03:00 follows the one at 01:30 and shift starts stay in order.
		name:    "Berlin 30m rotation through the skipped hour",
		zone:    "Europe/Berlin",
		layer:   rotation("fast", "2026-03-29", "00:00", 30*time.Minute, "alice", "bob"),
		from:    "2026-03-29T01:00:00+01:00",
		want:    []string{"2026-03-29T01:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T03:30:00+02:00"},
		elapsed: []time.Duration{30 * time.Minute, 30 * time.Minute},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := compile(t, klaxonv1.OnCallScheduleSpec{TimeZone: c.zone, Layers: []klaxonv1.ScheduleLayer{c.layer}})
			from := instant(c.from)
			for i, w := range c.want {
				h, ok := s.NextHandoff(from)
				if !ok || !h.At.Equal(instant(w)) {
					t.Fatalf("NextHandoff(%s) = %s, %v; want %s", from.Format(time.RFC3339), h.At.Format(time.RFC3339), ok, w)
				}
				if h.At.Location().String() != c.zone {
					t.Errorf("handoff at %s is not in %s", h.At, c.zone)
				}
				before, after := s.At(h.At.Add(-time.Nanosecond)), s.At(h.At)
				if who(before) == who(after) || who(after) != who(h.Next) {
					t.Errorf("around %s: %s then %s, handoff says %s", w, who(before), who(after), who(h.Next))
				}
				if i > 0 {
					if got := h.At.Sub(from); got != c.elapsed[i-1] {
						t.Errorf("shift from %s lasted %s, want %s", from.Format(time.RFC3339), got, c.elapsed[i-1])
					}
				}
				from = h.At
			}
		})
	}
}

func TestAtRepeatedHour(t *testing.T) {
	// Shift 5 (bob) starts at the first 02:30 of 2026-10-25; the second 02:30, an
	// hour later, is not another handoff.
	s := compile(t, klaxonv1.OnCallScheduleSpec{TimeZone: "Europe/Berlin", Layers: []klaxonv1.ScheduleLayer{
		rotation("daily", "2026-10-20", "02:30", daily, "alice", "bob"),
	}})
	checkAt(t, s, []atCase{
		{"2026-10-25T02:29:59+02:00", "alice/daily"},
		{"2026-10-25T02:30:00+02:00", "bob/daily"},
		{"2026-10-25T02:15:00+01:00", "bob/daily"}, // the repeated hour
		{"2026-10-25T02:30:00+01:00", "bob/daily"},
		{"2026-10-26T02:29:59+01:00", "bob/daily"},
		{"2026-10-26T02:30:00+01:00", "alice/daily"},
	})
}

func TestRestrictions(t *testing.T) {
	cases := []struct {
		name  string
		spec  klaxonv1.OnCallScheduleSpec
		cases []atCase
	}{{
		name: "business hours over 24/7",
		spec: klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{
			rotation("always", "2026-01-05", "09:00", weekly, "alice", "bob"),
			restricted(rotation("business", "2026-01-05", "09:00", weekly, "carol"), "09:00", "17:00", weekdays5...),
		}},
		cases: []atCase{
			{"2026-01-07T08:59:59Z", "alice/always"}, // Wednesday
			{"2026-01-07T09:00:00Z", "carol/business"},
			{"2026-01-07T16:59:59Z", "carol/business"},
			{"2026-01-07T17:00:00Z", "alice/always"},
			{"2026-01-07T23:00:00Z", "alice/always"},
			{"2026-01-10T12:00:00Z", "alice/always"}, // Saturday
			{"2026-01-11T23:00:00Z", "alice/always"},
			{"2026-01-12T08:00:00Z", "alice/always"}, // Monday, before the weekly handoff
			{"2026-01-12T10:00:00Z", "carol/business"},
			{"2026-01-12T17:30:00Z", "bob/always"},
		},
	}, {
		name: "overnight window crossing midnight",
		spec: klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{
			restricted(rotation("nights", "2026-01-05", "09:00", weekly, "dave"), "22:00", "06:00", mon, tue, wed, thu),
		}},
		cases: []atCase{
			{"2026-01-05T21:59:59Z", "nobody"}, // Monday
			{"2026-01-05T22:00:00Z", "dave/nights"},
			{"2026-01-06T00:00:00Z", "dave/nights"},
			{"2026-01-06T05:59:59Z", "dave/nights"},
			{"2026-01-06T06:00:00Z", "nobody"},
			{"2026-01-09T05:00:00Z", "dave/nights"}, // Friday morning: Thursday's window
			{"2026-01-09T22:00:00Z", "nobody"},      // Friday is not listed
			{"2026-01-12T03:00:00Z", "nobody"},      // nor Sunday
		},
	}, {
		name: "00:00-00:00 is the whole day",
		spec: klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{
			restricted(rotation("saturday", "2026-01-05", "09:00", weekly, "erin"), "00:00", "00:00", sat),
		}},
		cases: []atCase{
			{"2026-01-09T23:59:59Z", "nobody"},
			{"2026-01-10T00:00:00Z", "erin/saturday"},
			{"2026-01-10T23:59:59Z", "erin/saturday"},
			{"2026-01-11T00:00:00Z", "nobody"},
		},
	}, {
		name: "business hours and a night window in Berlin across spring forward",
		spec: klaxonv1.OnCallScheduleSpec{TimeZone: "Europe/Berlin", Layers: []klaxonv1.ScheduleLayer{
			rotation("always", "2026-03-02", "09:00", weekly, "alice"),
			restricted(rotation("business", "2026-03-02", "09:00", weekly, "carol"), "09:00", "17:00", weekdays5...),
			restricted(rotation("night", "2026-03-02", "09:00", weekly, "dave"), "01:00", "04:00", sun),
		}},
		cases: []atCase{
			{"2026-03-27T08:59:59+01:00", "alice/always"}, // Friday, winter time
			{"2026-03-27T09:00:00+01:00", "carol/business"},
			{"2026-03-29T00:59:59+01:00", "alice/always"}, // Sunday night, 2h long
			{"2026-03-29T01:00:00+01:00", "dave/night"},
			{"2026-03-29T01:59:59+01:00", "dave/night"},
			{"2026-03-29T03:00:00+02:00", "dave/night"},
			{"2026-03-29T03:59:59+02:00", "dave/night"},
			{"2026-03-29T04:00:00+02:00", "alice/always"},
			{"2026-03-30T08:59:59+02:00", "alice/always"}, // Monday, summer time
			{"2026-03-30T09:00:00+02:00", "carol/business"},
			{"2026-03-30T16:59:59+02:00", "carol/business"},
			{"2026-03-30T17:00:00+02:00", "alice/always"},
		},
	}, {
		name: "overnight window in New York across fall back",
		spec: klaxonv1.OnCallScheduleSpec{TimeZone: "America/New_York", Layers: []klaxonv1.ScheduleLayer{
			restricted(rotation("nights", "2026-10-05", "09:00", weekly, "dave"), "22:00", "06:00", sat),
		}},
		cases: []atCase{
			{"2026-10-31T21:59:59-04:00", "nobody"},
			{"2026-10-31T22:00:00-04:00", "dave/nights"},
			{"2026-11-01T01:30:00-04:00", "dave/nights"},
			{"2026-11-01T01:30:00-05:00", "dave/nights"},
			{"2026-11-01T05:59:59-05:00", "dave/nights"},
			{"2026-11-01T06:00:00-05:00", "nobody"},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkAt(t, compile(t, c.spec), c.cases)
		})
	}
}

func TestRestrictionsCoveringTheWeekAreAlwaysOn(t *testing.T) {
	everyDay := restricted(rotation("l", "2026-01-05", "09:00", weekly, "alice"), "00:00", "00:00")
	weekendsAndWeekdays := restricted(restricted(rotation("l", "2026-01-05", "09:00", weekly, "alice"),
		"09:00", "09:00", weekdays5...), "09:00", "09:00", sat, sun)
	nights := restricted(rotation("l", "2026-01-05", "09:00", weekly, "alice"), "18:00", "09:00")
	for name, l := range map[string]klaxonv1.ScheduleLayer{"every day": everyDay, "every weekday and weekend day": weekendsAndWeekdays} {
		if s := compile(t, klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{l}}); s.layers[0].windows != nil {
			t.Errorf("%s: windows %v, want always on", name, s.layers[0].windows)
		}
	}
	s := compile(t, klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{nights}})
	if got := len(s.layers[0].windows); got != 7 {
		t.Errorf("nights: %d windows, want 7", got)
	}
}

func TestOverrides(t *testing.T) {
	s := compile(t, klaxonv1.OnCallScheduleSpec{
		Layers: []klaxonv1.ScheduleLayer{rotation("weekly", "2026-01-05", "09:00", weekly, "alice", "bob")},
		Overrides: []klaxonv1.ScheduleOverride{
			overrideOf("dave", "2026-01-07T10:00:00Z", "2026-01-07T12:00:00Z"),
			overrideOf("erin", "2026-01-07T11:00:00Z", "2026-01-07T13:00:00Z"),
			overrideOf("frank", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"), // before the layer starts
			overrideOf("hank", "2026-01-08T11:00:00Z", "2026-01-08T12:00:00Z"),
			overrideOf("gina", "2026-01-08T10:00:00Z", "2026-01-08T14:00:00Z"), // listed last: wins though it began first
		},
	})
	checkAt(t, s, []atCase{
		{"2026-01-07T09:59:59.999999999Z", "alice/weekly"},
		{"2026-01-07T10:00:00Z", "dave/override"},
		{"2026-01-07T10:59:59Z", "dave/override"},
		{"2026-01-07T11:00:00Z", "erin/override"},
		{"2026-01-07T12:00:00Z", "erin/override"},
		{"2026-01-07T12:59:59.999999999Z", "erin/override"},
		{"2026-01-07T13:00:00Z", "alice/weekly"},
		{"2026-01-01T12:00:00Z", "frank/override"},
		{"2026-01-02T00:00:00Z", "nobody"},
		{"2026-01-08T11:30:00Z", "gina/override"},
	})
}

func TestNextHandoff(t *testing.T) {
	weekly3 := klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{
		rotation("weekly", "2026-01-05", "09:00", weekly, "alice", "bob", "carol"),
	}}
	single := klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{
		rotation("weekly", "2026-01-05", "09:00", weekly, "alice"),
	}}
	businessOverSingle := klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{
		rotation("always", "2026-01-05", "09:00", weekly, "alice"),
		restricted(rotation("business", "2026-01-05", "09:00", weekly, "carol"), "09:00", "17:00", weekdays5...),
	}}
	aliceEverywhere := klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{
		rotation("always", "2026-01-05", "09:00", weekly, "alice"),
		restricted(rotation("business", "2026-01-05", "09:00", weekly, "alice"), "09:00", "17:00", weekdays5...),
	}}
	old := rotation("old", "2026-01-01", "09:00", daily, "alice")
	old.End = "2026-02-01"
	layerChange := klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{
		old, rotation("new", "2026-02-01", "09:00", daily, "alice", "bob"),
	}}
	withOverride := single
	withOverride.Overrides = []klaxonv1.ScheduleOverride{overrideOf("dave", "2026-03-10T10:00:00Z", "2026-03-10T12:00:00Z")}
	overrideSamePerson := single
	overrideSamePerson.Overrides = []klaxonv1.ScheduleOverride{overrideOf("alice", "2026-03-10T10:00:00Z", "2026-03-10T12:00:00Z")}
	ending := rotation("weekly", "2026-01-05", "09:00", weekly, "alice", "bob")
	ending.End = "2026-01-19"
	layerEnds := klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{ending}}
	fastUnderOverride := klaxonv1.OnCallScheduleSpec{
		Layers:    []klaxonv1.ScheduleLayer{rotation("fast", "2026-01-01", "00:00", time.Minute, "alice", "bob")},
		Overrides: []klaxonv1.ScheduleOverride{overrideOf("carol", "2026-01-01T00:00:00Z", "2026-12-01T00:00:00Z")},
	}
	berlin := klaxonv1.OnCallScheduleSpec{TimeZone: "Europe/Berlin", Layers: businessOverSingle.Layers}

	cases := []struct {
		name string
		spec klaxonv1.OnCallScheduleSpec
		from string
		at   string // "" for no handoff
		next string
	}{
		{"mid shift", weekly3, "2026-01-07T12:00:00Z", "2026-01-12T09:00:00Z", "bob/weekly"},
		{"one nanosecond before a handoff", weekly3, "2026-01-12T08:59:59.999999999Z", "2026-01-12T09:00:00Z", "bob/weekly"},
		{"at a handoff: the one after", weekly3, "2026-01-12T09:00:00Z", "2026-01-19T09:00:00Z", "carol/weekly"},
		{"before the first shift", weekly3, "2025-12-01T00:00:00Z", "2026-01-05T09:00:00Z", "alice/weekly"},
		{"single responder before start", single, "2025-12-01T00:00:00Z", "2026-01-05T09:00:00Z", "alice/weekly"},
		{"single responder never changes", single, "2026-06-01T00:00:00Z", "", ""},
		{"restriction starts", businessOverSingle, "2026-01-07T08:00:00Z", "2026-01-07T09:00:00Z", "carol/business"},
		{"restriction ends", businessOverSingle, "2026-01-07T10:00:00Z", "2026-01-07T17:00:00Z", "alice/always"},
		{"over the weekend", businessOverSingle, "2026-01-09T18:00:00Z", "2026-01-12T09:00:00Z", "carol/business"},
		{"restriction in Berlin", berlin, "2026-03-28T12:00:00+01:00", "2026-03-30T09:00:00+02:00", "carol/business"},
		{"same person in every layer", aliceEverywhere, "2026-01-07T10:00:00Z", "", ""},
		{"layer ends, the next starts with the same person", layerChange, "2026-01-20T00:00:00Z", "2026-02-02T09:00:00Z", "bob/new"},
		{"override starts", withOverride, "2026-03-01T00:00:00Z", "2026-03-10T10:00:00Z", "dave/override"},
		{"override ends", withOverride, "2026-03-10T10:30:00Z", "2026-03-10T12:00:00Z", "alice/weekly"},
		{"after the last override", withOverride, "2026-03-10T12:00:00Z", "", ""},
		{"override for the person on call", overrideSamePerson, "2026-03-01T00:00:00Z", "", ""},
		{"layer ends", layerEnds, "2026-01-13T00:00:00Z", "2026-01-19T09:00:00Z", "nobody"},
		{"after the layer ended", layerEnds, "2026-01-19T09:00:00Z", "", ""},
		{"fast rotation under an override", fastUnderOverride, "2026-01-01T00:00:00Z", "2026-12-01T00:00:00Z", "alice/fast"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, ok := compile(t, c.spec).NextHandoff(instant(c.from))
			if c.at == "" {
				if ok {
					t.Fatalf("NextHandoff = %s %s, want none", h.At, who(h.Next))
				}
				return
			}
			if !ok || !h.At.Equal(instant(c.at)) || who(h.Next) != c.next {
				t.Fatalf("NextHandoff = %s %s, %v; want %s %s", h.At.Format(time.RFC3339Nano), who(h.Next), ok, c.at, c.next)
			}
		})
	}
}

// TestNextHandoffGivesUpAtOnce checks that schedules that never change are found out
// without paging through their shifts: the first boundary is already past the horizon.
func TestNextHandoffGivesUpAtOnce(t *testing.T) {
	from := instant("2026-06-01T00:00:00Z")
	for name, spec := range map[string]klaxonv1.OnCallScheduleSpec{
		"single responder": {Layers: []klaxonv1.ScheduleLayer{rotation("weekly", "2026-01-05", "09:00", weekly, "alice")}},
		"fast rotation hidden under an always-on layer": {Layers: []klaxonv1.ScheduleLayer{
			rotation("fast", "2026-01-01", "00:00", time.Minute, "alice", "bob"),
			rotation("top", "2026-01-01", "00:00", weekly, "carol"),
		}},
	} {
		b, ok := compile(t, spec).nextBoundary(from)
		if ok && !b.Equal(latest) {
			t.Errorf("%s: first boundary %s, want none before %s", name, b, latest)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	valid := func() klaxonv1.OnCallScheduleSpec {
		return klaxonv1.OnCallScheduleSpec{
			TimeZone: "Europe/Berlin",
			Layers: []klaxonv1.ScheduleLayer{
				rotation("primary", "2026-01-05", "09:00", weekly, "alice", "bob"),
				restricted(rotation("nights", "2026-01-05", "09:00", weekly, "carol"), "22:00", "06:00", mon),
			},
			Overrides: []klaxonv1.ScheduleOverride{overrideOf("dave", "2026-01-07T10:00:00Z", "2026-01-07T12:00:00Z")},
		}
	}
	if _, err := Compile(valid()); err != nil {
		t.Fatalf("valid spec: %v", err)
	}
	cases := []struct {
		name   string
		mutate func(*klaxonv1.OnCallScheduleSpec)
		want   string
	}{
		{"unknown zone", func(s *klaxonv1.OnCallScheduleSpec) { s.TimeZone = "Mars/Base" }, `timeZone: unknown time zone "Mars/Base"`},
		{"machine zone", func(s *klaxonv1.OnCallScheduleSpec) { s.TimeZone = "Local" }, `timeZone: "Local" is not an IANA time zone`},
		{"bad start", func(s *klaxonv1.OnCallScheduleSpec) { s.Layers[1].Start = "2026-02-30" }, `layers[1].start: invalid date "2026-02-30"`},
		{"missing start", func(s *klaxonv1.OnCallScheduleSpec) { s.Layers[0].Start = "" }, `layers[0].start: invalid date ""`},
		{"bad end", func(s *klaxonv1.OnCallScheduleSpec) { s.Layers[0].End = "2026-13-01" }, `layers[0].end: invalid date "2026-13-01"`},
		{"end before start", func(s *klaxonv1.OnCallScheduleSpec) { s.Layers[0].End = "2026-01-01" }, `layers[0].end: 2026-01-01 is not after start 2026-01-05`},
		{"end at start", func(s *klaxonv1.OnCallScheduleSpec) { s.Layers[0].End = "2026-01-05" }, `layers[0].end: 2026-01-05 is not after start`},
		{"one-digit hour", func(s *klaxonv1.OnCallScheduleSpec) { s.Layers[0].HandoffTime = "9:00" }, `layers[0].handoffTime: invalid time "9:00", want HH:MM`},
		{"hour 24", func(s *klaxonv1.OnCallScheduleSpec) { s.Layers[0].HandoffTime = "24:00" }, `layers[0].handoffTime: invalid time "24:00"`},
		{"minute 60", func(s *klaxonv1.OnCallScheduleSpec) { s.Layers[0].HandoffTime = "09:60" }, `layers[0].handoffTime: invalid time "09:60"`},
		{"zero rotation", func(s *klaxonv1.OnCallScheduleSpec) { s.Layers[0].RotationLength.Duration = 0 }, `layers[0].rotationLength: must be positive`},
		{"negative rotation", func(s *klaxonv1.OnCallScheduleSpec) { s.Layers[1].RotationLength.Duration = -time.Hour }, `layers[1].rotationLength: must be positive`},
		{"sub-second rotation", func(s *klaxonv1.OnCallScheduleSpec) { s.Layers[0].RotationLength.Duration = 1500 * time.Millisecond }, `layers[0].rotationLength: must be a whole number of seconds`},
		{"no responders", func(s *klaxonv1.OnCallScheduleSpec) { s.Layers[1].Responders = nil }, `layers[1].responders: must name at least one responder`},
		{"bad window start", func(s *klaxonv1.OnCallScheduleSpec) { s.Layers[1].Restrictions[0].StartTime = "25:00" }, `layers[1].restrictions[0].startTime: invalid time "25:00"`},
		{"bad window end", func(s *klaxonv1.OnCallScheduleSpec) { s.Layers[1].Restrictions[0].EndTime = "6am" }, `layers[1].restrictions[0].endTime: invalid time "6am"`},
		{"unknown day", func(s *klaxonv1.OnCallScheduleSpec) {
			s.Layers[1].Restrictions[0].DaysOfWeek = []klaxonv1.Weekday{mon, "Funday"}
		}, `layers[1].restrictions[0].daysOfWeek[1]: unknown day "Funday"`},
		{"override ends before it starts", func(s *klaxonv1.OnCallScheduleSpec) {
			s.Overrides[0].End = metav1.NewTime(instant("2026-01-07T09:00:00Z"))
		}, `overrides[0].end: must be after start`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			spec := valid()
			c.mutate(&spec)
			s, err := Compile(spec)
			if err == nil || !strings.HasPrefix(err.Error(), c.want) {
				t.Fatalf("Compile error = %v, want it to start with %s", err, c.want)
			}
			if s != nil {
				t.Errorf("Compile returned a schedule with an error")
			}
		})
	}
}

// TestNoAliasing checks that neither the spec compiled nor a result handed out can
// change the schedule afterwards: a Schedule may be cached and shared.
func TestNoAliasing(t *testing.T) {
	spec := klaxonv1.OnCallScheduleSpec{Layers: []klaxonv1.ScheduleLayer{
		rotation("weekly", "2026-01-05", "09:00", weekly, "alice"),
	}}
	s := compile(t, spec)
	at := instant("2026-01-06T00:00:00Z")
	spec.Layers[0].Responders[0].Name = "mallory"
	s.At(at).Responders[0].Name = "mallory"
	if got := s.At(at).Responders; !slices.Equal(got, refs("alice")) {
		t.Errorf("At = %v, want alice", got)
	}
}

// TestClockAndInstantAgree checks the two conversions everything rests on, minute by
// minute around daylight-saving changes: instant(c) is the first instant at which the
// schedule's clock reads c, instant is monotonic, and clock(t) >= c exactly when
// instant(c) <= t.
func TestClockAndInstantAgree(t *testing.T) {
	around := map[string][]string{
		"Europe/Berlin":       {"2026-03-29T01:00:00Z", "2026-10-25T01:00:00Z"},
		"America/New_York":    {"2026-03-08T07:00:00Z", "2026-11-01T06:00:00Z"},
		"Australia/Lord_Howe": {"2026-04-04T15:00:00Z", "2026-10-03T15:30:00Z"}, // half-hour changes
		"Pacific/Apia":        {"2011-12-30T10:00:00Z"},                         // 2011-12-30 was skipped
	}
	for zone, changes := range around {
		s := compile(t, klaxonv1.OnCallScheduleSpec{TimeZone: zone, Layers: []klaxonv1.ScheduleLayer{
			rotation("l", "2026-01-01", "09:00", daily, "alice"),
		}})
		for _, change := range changes {
			mid := s.clock(instant(change))
			var prev time.Time
			for c := mid - 2*day; c <= mid+2*day; c += 60 {
				at := s.instant(c)
				if s.clock(at) < c || s.clock(at.Add(-time.Second)) >= c {
					t.Fatalf("%s: instant(%s) = %s, clock there %s, a second earlier %s", zone,
						time.Unix(c, 0).UTC().Format(time.DateTime), at,
						time.Unix(s.clock(at), 0).UTC().Format(time.DateTime),
						time.Unix(s.clock(at.Add(-time.Second)), 0).UTC().Format(time.DateTime))
				}
				if at.Before(prev) {
					t.Fatalf("%s: instant not monotonic at %d", zone, c)
				}
				prev = at
			}
			// And the other way: at every instant, the clock has reached what it reads
			// and not a second more.
			for at := instant(change).Add(-2 * time.Hour); at.Before(instant(change).Add(2 * time.Hour)); at = at.Add(time.Minute) {
				c := s.clock(at)
				if s.instant(c).After(at) || !s.instant(c+1).After(at) {
					t.Fatalf("%s: at %s the clock reads %s", zone, at, time.Unix(c, 0).UTC().Format(time.DateTime))
				}
			}
		}
	}
}
