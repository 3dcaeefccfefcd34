package maintenance

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"

	// Windows name IANA zones; embed the database so they work on a distroless image.
	_ "time/tzdata"
)

// maxMerged bounds how many touching occurrences Next merges into one open period; an
// always-open window ("* * * * *" for 1m) reports an end that far ahead, and the
// caller asks again then.
const maxMerged = 100

// cronParser reads the standard five fields (minute hour day-of-month month
// day-of-week) and the @daily-style descriptors.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Window is a compiled MaintenanceWindow spec: when it is open and which alerts it
// covers.
type Window struct {
	// Name of the MaintenanceWindow, set by the caller; Apply reports it.
	Name string

	// A one-off window: [start, end).
	start, end time.Time

	// A recurring window: schedule steps through civil time (its Location is UTC,
	// which has no daylight saving); loc is the zone the wall clock is read in.
	schedule *cron.SpecSchedule
	loc      *time.Location
	duration time.Duration

	action      klaxonv1.MaintenanceAction
	downgradeTo klaxonv1.Severity
	selector    klaxonv1.MaintenanceSelector
}

// Compile checks a MaintenanceWindow spec and prepares it for matching. Errors name
// the field, e.g. "recurrence.timeZone: unknown time zone \"Europe/Berln\"".
func Compile(spec klaxonv1.MaintenanceWindowSpec) (*Window, error) {
	w := &Window{action: spec.Action, downgradeTo: spec.DowngradeTo, selector: spec.Selector}
	switch w.action {
	case "":
		w.action = klaxonv1.MaintenanceSuppress
	case klaxonv1.MaintenanceSuppress:
	case klaxonv1.MaintenanceDowngrade:
		if w.downgradeTo.Rank() == 0 {
			return nil, fmt.Errorf("downgradeTo: action Downgrade needs one of SEV1..SEV5, got %q", spec.DowngradeTo)
		}
	default:
		return nil, fmt.Errorf("action: %q is not Suppress or Downgrade", spec.Action)
	}

	oneOff := spec.Start != nil || spec.End != nil
	switch {
	case oneOff && spec.Recurrence != nil:
		return nil, errors.New("a maintenance window is either one-off (start and end) or recurring (recurrence), not both")
	case spec.Recurrence != nil:
		if err := w.compileRecurrence(spec.Recurrence); err != nil {
			return nil, err
		}
	case spec.Start == nil:
		return nil, errors.New("start: a one-off window needs start and end (or use recurrence)")
	case spec.End == nil:
		return nil, errors.New("end: a one-off window needs start and end (or use recurrence)")
	case !spec.End.After(spec.Start.Time):
		return nil, errors.New("end: must be after start")
	default:
		w.start, w.end = spec.Start.Time, spec.End.Time
	}
	return w, nil
}

func (w *Window) compileRecurrence(r *klaxonv1.Recurrence) error {
	if r.Duration.Duration <= 0 {
		return fmt.Errorf("recurrence.duration: must be positive, got %s", r.Duration.Duration)
	}
	w.duration = r.Duration.Duration

	zone := r.TimeZone
	if zone == "" {
		zone = "UTC"
	}
	// "Local" would make the window depend on the controller's machine.
	if zone == "Local" {
		return errors.New(`recurrence.timeZone: "Local" is not allowed; name an IANA zone such as Europe/Berlin`)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return fmt.Errorf("recurrence.timeZone: unknown time zone %q: %w", zone, err)
	}
	w.loc = loc

	sched, err := parseCron(r.Cron)
	if err != nil {
		return fmt.Errorf("recurrence.cron: %w", err)
	}
	w.schedule = sched
	if sched.Next(civil(0)).IsZero() {
		return fmt.Errorf("recurrence.cron: %q never matches a date", r.Cron)
	}
	return nil
}

// parseCron parses a five-field expression or a descriptor such as @daily.
func parseCron(expr string) (sched *cron.SpecSchedule, err error) {
	expr = strings.TrimSpace(expr)
	switch {
	case strings.HasPrefix(expr, "TZ=") || strings.HasPrefix(expr, "CRON_TZ="):
		return nil, fmt.Errorf("%q names a time zone; set recurrence.timeZone instead", expr)
	case strings.HasPrefix(expr, "@every"):
		return nil, fmt.Errorf("%q repeats from whenever it is read; name wall-clock times instead", expr)
	}
	// robfig/cron v3.0.1 panics on some malformed input (an unterminated TZ= prefix is
	// one known case); a manifest must not crash the controller.
	defer func() {
		if r := recover(); r != nil {
			sched, err = nil, fmt.Errorf("cannot parse %q", expr)
		}
	}()
	s, err := cronParser.Parse(expr)
	if err != nil {
		return nil, fmt.Errorf("cannot parse %q: %w", expr, err)
	}
	spec, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("%q is not a calendar schedule", expr)
	}
	civilSpec := *spec
	civilSpec.Location = time.UTC
	return &civilSpec, nil
}

// Active reports whether the window is open at t.
func (w *Window) Active(t time.Time) bool {
	if w.schedule == nil {
		return !t.Before(w.start) && t.Before(w.end)
	}
	// An occurrence at civil time c is open at t when instant(c) <= t < instant(c)+d,
	// that is when clock(t-d) < c <= clock(t).
	c := w.schedule.Next(civil(clock(w.loc, t.Add(-w.duration))))
	return !c.IsZero() && fromCivil(c) <= clock(w.loc, t)
}

// Next returns the open period in progress at t, or else the next one: its start and
// when it closes, with occurrences that overlap or touch merged (up to maxMerged). ok
// is false when the window never opens again.
func (w *Window) Next(t time.Time) (start, end time.Time, ok bool) {
	if w.schedule == nil {
		if t.Before(w.end) {
			return w.start, w.end, true
		}
		return time.Time{}, time.Time{}, false
	}
	// The first occurrence that is still open at t or opens after it.
	c := w.schedule.Next(civil(clock(w.loc, t.Add(-w.duration))))
	if c.IsZero() {
		return time.Time{}, time.Time{}, false
	}
	start = instant(w.loc, fromCivil(c))
	end = start.Add(w.duration)
	for range maxMerged {
		if c = w.schedule.Next(c); c.IsZero() {
			break
		}
		s := instant(w.loc, fromCivil(c))
		if s.After(end) {
			break
		}
		if e := s.Add(w.duration); e.After(end) {
			end = e
		}
	}
	return start, end, true
}

// Matches reports whether the window covers an alert: every matchLabels entry is among
// its labels with that value (a missing label does not match, even for ""), and its
// service and alert source are listed when the selector lists any. An empty selector
// covers every alert in the window's namespace.
func (w *Window) Matches(labels map[string]string, service, alertSource string) bool {
	for k, v := range w.selector.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	if len(w.selector.Services) > 0 && !slices.Contains(w.selector.Services, service) {
		return false
	}
	if len(w.selector.AlertSources) > 0 && !slices.Contains(w.selector.AlertSources, alertSource) {
		return false
	}
	return true
}
