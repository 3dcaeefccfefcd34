// Package wallclock converts between instants and civil times: int64 seconds since
// 1970-01-01 00:00 on a zone's wall clock. Schedules (on-call rotations, maintenance
// windows) do their arithmetic in civil time, where daylight saving plays no part,
// and turn only the result into an instant. On-call handoffs and maintenance windows
// share these two functions, so a shift edge and a window edge at the same wall-clock
// time happen at the same instant.
package wallclock

import "time"

// Day is a civil day in seconds.
const Day = 24 * 60 * 60

// Clock returns the civil time the zone's clock has reached at t. During the hour
// repeated after clocks fall back it stays at the last second before they did, so a
// time in that hour, which already happened, does not happen twice. With Instant:
// Clock(loc, t) >= c exactly when Instant(loc, c) <= t.
func Clock(loc *time.Location, t time.Time) int64 {
	t = t.In(loc)
	_, off := t.Zone()
	c := t.Unix() + int64(off)
	if start, _ := t.ZoneBounds(); !start.IsZero() {
		_, prev := start.Add(-time.Second).Zone()
		c = max(c, start.Unix()+int64(prev)-1)
	}
	return c
}

// Instant returns the first instant at which the zone's clock reads civil time c or
// later: the clock jump for a time skipped by spring-forward, the first occurrence of
// a time repeated by fall-back. It is monotonic in c, unlike time.Date.
func Instant(loc *time.Location, c int64) time.Time {
	// No zone is a day or more ahead of UTC, so the clock two days before c in UTC
	// reads earlier than c; walk the zone's periods from there.
	p := time.Unix(c-2*Day, 0).In(loc)
	for range 64 {
		_, off := p.Zone()
		start, end := p.ZoneBounds()
		at := c - int64(off) // when this period's clock reads c
		if !start.IsZero() {
			at = max(at, start.Unix()) // the period opens already past c
		}
		if end.IsZero() || at < end.Unix() {
			return time.Unix(at, 0).In(loc)
		}
		p = end
	}
	// Unreachable with real zones: 64 changes of offset within two days.
	return time.Unix(c, 0).In(loc)
}
