package maintenance

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func recurring(cron string, d time.Duration, zone string) klaxonv1.MaintenanceWindowSpec {
	return klaxonv1.MaintenanceWindowSpec{Recurrence: &klaxonv1.Recurrence{Cron: cron, Duration: metav1.Duration{Duration: d}, TimeZone: zone}}
}

func mustCompile(t *testing.T, spec klaxonv1.MaintenanceWindowSpec) *Window {
	t.Helper()
	w, err := Compile(spec)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestCompileRejects(t *testing.T) {
	start, end := metav1.NewTime(at("2026-03-29T01:00:00Z")), metav1.NewTime(at("2026-03-29T03:00:00Z"))
	for _, tc := range []struct {
		name string
		spec klaxonv1.MaintenanceWindowSpec
		frag string
	}{
		{"neither", klaxonv1.MaintenanceWindowSpec{}, "start:"},
		{"no end", klaxonv1.MaintenanceWindowSpec{Start: &start}, "end:"},
		{"end before start", klaxonv1.MaintenanceWindowSpec{Start: &end, End: &start}, "end: must be after start"},
		{"end equals start", klaxonv1.MaintenanceWindowSpec{Start: &start, End: &start}, "end: must be after start"},
		{"both", klaxonv1.MaintenanceWindowSpec{Start: &start, End: &end, Recurrence: recurring("0 2 * * *", time.Hour, "").Recurrence}, "not both"},
		{"bad cron", recurring("0 25 * * *", time.Hour, ""), "recurrence.cron"},
		{"six fields", recurring("0 0 2 * * *", time.Hour, ""), "recurrence.cron"},
		{"time zone in the expression", recurring("TZ=Europe/Berlin 0 2 * * *", time.Hour, ""), "recurrence.timeZone instead"},
		{"unterminated time zone", recurring("CRON_TZ=Europe/Berlin", time.Hour, ""), "recurrence.cron"},
		{"every", recurring("@every 1h", time.Hour, ""), "wall-clock"},
		{"never", recurring("0 0 31 2 *", time.Hour, ""), "never matches"},
		{"no duration", recurring("0 2 * * *", 0, ""), "recurrence.duration"},
		{"negative duration", recurring("0 2 * * *", -time.Hour, ""), "recurrence.duration"},
		{"unknown zone", recurring("0 2 * * *", time.Hour, "Europe/Berln"), `recurrence.timeZone: unknown time zone "Europe/Berln"`},
		{"local zone", recurring("0 2 * * *", time.Hour, "Local"), "recurrence.timeZone"},
		{"downgrade without level", klaxonv1.MaintenanceWindowSpec{Start: &start, End: &end, Action: klaxonv1.MaintenanceDowngrade}, "downgradeTo"},
		{"bad action", klaxonv1.MaintenanceWindowSpec{Start: &start, End: &end, Action: "Drop"}, "action"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, err := Compile(tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.frag) {
				t.Fatalf("Compile = %v, %v; want an error saying %q", w, err, tc.frag)
			}
		})
	}
}

func TestOneOffWindow(t *testing.T) {
	start, end := metav1.NewTime(at("2026-03-29T01:00:00Z")), metav1.NewTime(at("2026-03-29T03:00:00Z"))
	w := mustCompile(t, klaxonv1.MaintenanceWindowSpec{Start: &start, End: &end})
	for _, tc := range []struct {
		t      string
		active bool
		next   bool
	}{
		{"2026-03-29T00:59:59Z", false, true},
		{"2026-03-29T01:00:00Z", true, true}, // start is inclusive
		{"2026-03-29T02:59:59Z", true, true},
		{"2026-03-29T03:00:00Z", false, false}, // end is exclusive
	} {
		if got := w.Active(at(tc.t)); got != tc.active {
			t.Errorf("Active(%s) = %v", tc.t, got)
		}
		s, e, ok := w.Next(at(tc.t))
		if ok != tc.next || (ok && (!s.Equal(start.Time) || !e.Equal(end.Time))) {
			t.Errorf("Next(%s) = %s, %s, %v", tc.t, s, e, ok)
		}
	}
}

// occurrence is an expected open period, in UTC.
type occurrence struct{ start, end string }

func TestRecurringWindows(t *testing.T) {
	for _, tc := range []struct {
		name     string
		spec     klaxonv1.MaintenanceWindowSpec
		from     string
		want     occurrence // Next(from)
		active   []string
		inactive []string
	}{{
		name:     "nightly in UTC",
		spec:     recurring("30 2 * * *", time.Hour, ""),
		from:     "2026-06-01T12:00:00Z",
		want:     occurrence{"2026-06-02T02:30:00Z", "2026-06-02T03:30:00Z"},
		active:   []string{"2026-06-02T02:30:00Z", "2026-06-02T03:29:59Z"},
		inactive: []string{"2026-06-02T02:29:59Z", "2026-06-02T03:30:00Z"},
	}, {
		name: "in progress: Next returns the current period",
		spec: recurring("30 2 * * *", time.Hour, "UTC"),
		from: "2026-06-02T03:00:00Z",
		want: occurrence{"2026-06-02T02:30:00Z", "2026-06-02T03:30:00Z"},
	}, {
		name:     "Berlin, an ordinary night in winter time",
		spec:     recurring("30 2 * * *", time.Hour, "Europe/Berlin"),
		from:     "2026-03-27T12:00:00Z",
		want:     occurrence{"2026-03-28T01:30:00Z", "2026-03-28T02:30:00Z"}, // 02:30 CET
		active:   []string{"2026-03-28T01:30:00Z"},
		inactive: []string{"2026-03-28T02:30:00Z"},
	}, {
		// 02:30 does not exist on 2026-03-29 in Berlin: the clock jumps from 02:00 CET
		// to 03:00 CEST (01:00Z). The window opens at the jump and lasts its hour.
		name:     "Berlin, spring forward skips 02:30",
		spec:     recurring("30 2 * * *", time.Hour, "Europe/Berlin"),
		from:     "2026-03-28T12:00:00Z",
		want:     occurrence{"2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"}, // 03:00-04:00 CEST
		active:   []string{"2026-03-29T01:00:00Z", "2026-03-29T01:59:59Z"},
		inactive: []string{"2026-03-29T00:59:59Z", "2026-03-29T02:00:00Z" /* not shifted to 03:30-04:30 */},
	}, {
		name: "Berlin, the night after spring forward is back to 02:30 (CEST)",
		spec: recurring("30 2 * * *", time.Hour, "Europe/Berlin"),
		from: "2026-03-29T02:00:00Z",
		want: occurrence{"2026-03-30T00:30:00Z", "2026-03-30T01:30:00Z"},
	}, {
		// 02:30 happens twice on 2026-10-25 (CEST, then CET). The window opens at the
		// first and lasts an elapsed hour: until the clock reads 02:30 again.
		name:     "Berlin, fall back: once, from the first 02:30",
		spec:     recurring("30 2 * * *", time.Hour, "Europe/Berlin"),
		from:     "2026-10-24T12:00:00Z",
		want:     occurrence{"2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"},
		active:   []string{"2026-10-25T00:30:00Z", "2026-10-25T01:29:59Z"},
		inactive: []string{"2026-10-25T01:30:00Z", "2026-10-25T02:29:59Z"},
	}, {
		name: "Berlin, fall back: no second occurrence in the repeated hour",
		spec: recurring("30 2 * * *", time.Hour, "Europe/Berlin"),
		from: "2026-10-25T01:30:00Z",
		want: occurrence{"2026-10-26T01:30:00Z", "2026-10-26T02:30:00Z"},
	}, {
		// New York springs forward at 02:00 EST (07:00Z) on 2026-03-08; time.Date would
		// move 02:30 back to 01:30 EST there, but the rule is the same in every zone.
		name: "New York, spring forward",
		spec: recurring("30 2 * * *", 30*time.Minute, "America/New_York"),
		from: "2026-03-07T12:00:00Z",
		want: occurrence{"2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z"},
	}, {
		name:     "weekly, Saturday 22:00 for 6h, across midnight",
		spec:     recurring("0 22 * * 6", 6*time.Hour, "Europe/Berlin"),
		from:     "2026-06-01T00:00:00Z", // a Monday
		want:     occurrence{"2026-06-06T20:00:00Z", "2026-06-07T02:00:00Z"},
		active:   []string{"2026-06-07T01:59:59Z"},
		inactive: []string{"2026-06-07T02:00:00Z", "2026-06-06T19:59:59Z"},
	}, {
		name: "descriptor @daily",
		spec: recurring("@daily", 15*time.Minute, "Asia/Kolkata"),
		from: "2026-06-01T00:00:00Z",
		want: occurrence{"2026-06-01T18:30:00Z", "2026-06-01T18:45:00Z"},
	}, {
		name:   "overlapping occurrences merge",
		spec:   recurring("0 9,10 * * 1-5", 90*time.Minute, ""),
		from:   "2026-06-01T00:00:00Z",
		want:   occurrence{"2026-06-01T09:00:00Z", "2026-06-01T11:30:00Z"},
		active: []string{"2026-06-01T10:45:00Z"},
	}, {
		name: "touching occurrences merge",
		spec: recurring("0 9,10 * * *", time.Hour, ""),
		from: "2026-06-01T10:30:00Z",
		want: occurrence{"2026-06-01T10:00:00Z", "2026-06-01T11:00:00Z"},
	}, {
		name: "a 1h window every 2h does not merge",
		spec: recurring("0 */2 * * *", time.Hour, ""),
		from: "2026-06-01T00:30:00Z",
		want: occurrence{"2026-06-01T00:00:00Z", "2026-06-01T01:00:00Z"},
	}, {
		name:   "always open: the merge stops after maxMerged occurrences",
		spec:   recurring("* * * * *", time.Minute, ""),
		from:   "2026-06-01T12:00:30Z",
		want:   occurrence{"2026-06-01T12:00:00Z", "2026-06-01T13:41:00Z"}, // 12:00 + 101 minutes
		active: []string{"2026-06-01T12:00:30Z", "2030-01-01T00:00:00Z"},
	}, {
		name:     "leap day only",
		spec:     recurring("0 0 29 2 *", 24*time.Hour, ""),
		from:     "2026-06-01T00:00:00Z",
		want:     occurrence{"2028-02-29T00:00:00Z", "2028-03-01T00:00:00Z"},
		inactive: []string{"2027-03-01T00:00:00Z"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			w := mustCompile(t, tc.spec)
			s, e, ok := w.Next(at(tc.from))
			if !ok || !s.Equal(at(tc.want.start)) || !e.Equal(at(tc.want.end)) {
				t.Errorf("Next(%s) = %s, %s, %v; want %s, %s", tc.from, s.UTC().Format(time.RFC3339), e.UTC().Format(time.RFC3339), ok, tc.want.start, tc.want.end)
			}
			for _, a := range tc.active {
				if !w.Active(at(a)) {
					t.Errorf("not active at %s", a)
				}
			}
			for _, a := range tc.inactive {
				if w.Active(at(a)) {
					t.Errorf("active at %s", a)
				}
			}
		})
	}
}

// TestActiveAgreesWithNext walks through DST changes minute by minute: the window
// is active exactly when Next's period contains the instant.
func TestActiveAgreesWithNext(t *testing.T) {
	for _, spec := range []klaxonv1.MaintenanceWindowSpec{
		recurring("30 2 * * *", time.Hour, "Europe/Berlin"),
		recurring("*/20 1-3 * * *", 10*time.Minute, "Europe/Berlin"),
		recurring("0 2 * * 0", 3*time.Hour, "America/New_York"),
		recurring("45 1 * * *", 90*time.Minute, "Australia/Lord_Howe"), // 30-minute DST shifts
		recurring("0 * * * *", 61*time.Minute, "Europe/Berlin"),        // always open: merged periods
	} {
		w := mustCompile(t, spec)
		for _, day := range []string{"2026-03-28T22:00:00Z", "2026-10-24T22:00:00Z", "2026-03-07T22:00:00Z", "2026-04-04T12:00:00Z", "2026-11-01T00:00:00Z"} {
			for m := 0; m < 12*60; m++ {
				now := at(day).Add(time.Duration(m) * time.Minute)
				s, e, ok := w.Next(now)
				inPeriod := ok && !now.Before(s) && now.Before(e)
				if w.Active(now) != inPeriod {
					t.Fatalf("%s at %s: Active %v, Next %s..%s", spec.Recurrence.Cron, now, w.Active(now), s, e)
				}
				if ok && !e.After(now) {
					t.Fatalf("%s at %s: Next's period %s..%s is over", spec.Recurrence.Cron, now, s, e)
				}
			}
		}
	}
}

func TestMatches(t *testing.T) {
	w := mustCompile(t, klaxonv1.MaintenanceWindowSpec{
		Recurrence: recurring("0 2 * * *", time.Hour, "").Recurrence,
		Selector: klaxonv1.MaintenanceSelector{
			MatchLabels:  map[string]string{"cluster": "eu-1", "team": "payments / checkout", "canary": ""},
			Services:     []string{"checkout", "payments-api"},
			AlertSources: []string{"alertmanager"},
		},
	})
	labels := map[string]string{"cluster": "eu-1", "team": "payments / checkout", "canary": "", "pod": "x"}
	for _, tc := range []struct {
		name            string
		labels          map[string]string
		service, source string
		want            bool
	}{
		{"all match", labels, "checkout", "alertmanager", true},
		{"other service", labels, "search", "alertmanager", false},
		{"no service", labels, "", "alertmanager", false},
		{"other source", labels, "checkout", "grafana", false},
		{"label value differs", map[string]string{"cluster": "eu-2", "team": "payments / checkout", "canary": ""}, "checkout", "alertmanager", false},
		{"empty-valued label missing", map[string]string{"cluster": "eu-1", "team": "payments / checkout"}, "checkout", "alertmanager", false},
		{"no labels", nil, "checkout", "alertmanager", false},
	} {
		if got := w.Matches(tc.labels, tc.service, tc.source); got != tc.want {
			t.Errorf("%s: Matches = %v", tc.name, got)
		}
	}
	everything := mustCompile(t, recurring("0 2 * * *", time.Hour, ""))
	if !everything.Matches(nil, "", "") {
		t.Error("an empty selector does not cover every alert")
	}
}

// FuzzCompile: no cron expression or zone crashes Compile, and what compiles answers
// Active and Next consistently.
func FuzzCompile(f *testing.F) {
	f.Add("30 2 * * *", "Europe/Berlin", int64(time.Hour))
	f.Add("TZ=", "", int64(1))
	f.Add("CRON_TZ=Europe/Berlin", "UTC", int64(time.Minute))
	f.Add("*/0 * * * *", "", int64(time.Minute))
	f.Add("0-70/5 * * * *", "", int64(time.Minute))
	f.Add("@yearly", "Pacific/Apia", int64(48*time.Hour))
	f.Add("0 0 30 2 1", "", int64(time.Hour))
	f.Fuzz(func(t *testing.T, cron, zone string, d int64) {
		w, err := Compile(recurring(cron, time.Duration(d), zone))
		if err != nil {
			return
		}
		for _, s := range []string{"2026-03-29T01:00:00Z", "2026-10-25T01:30:00Z", "2011-12-30T10:00:00Z"} {
			now := at(s)
			start, end, ok := w.Next(now)
			if w.Active(now) != (ok && !now.Before(start) && now.Before(end)) {
				t.Fatalf("%q %q %s at %s: Active disagrees with Next %s..%s", cron, zone, time.Duration(d), now, start, end)
			}
		}
	})
}
