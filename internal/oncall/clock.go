package oncall

import "time"

// Civil times are int64 seconds since 1970-01-01 00:00 on the zone's wall clock. Every
// declared time is a whole number of seconds there, so integer arithmetic is exact and
// daylight saving plays no part until a civil time is turned into an instant.
const (
	day  = 24 * 60 * 60
	week = 7 * day
	// never is the civil time of an event that does not happen.
	never = int64(1<<63 - 1)
)

// clock returns the civil time the schedule has reached at t. During the hour repeated
// after clocks fall back it stays at the last second before they did, so handoffs and
// window edges in that hour, which already happened, do not happen twice. With instant
// this gives: clock(t) >= c exactly when instant(c) <= t.
func (s *Schedule) clock(t time.Time) int64 {
	t = t.In(s.loc)
	_, off := t.Zone()
	c := t.Unix() + int64(off)
	if start, _ := t.ZoneBounds(); !start.IsZero() {
		_, prev := start.Add(-time.Second).Zone()
		c = max(c, start.Unix()+int64(prev)-1)
	}
	return c
}

// instant returns the first instant at which the zone's clock reads civil time c or
// later: the clock jump for a time skipped by spring-forward, the first occurrence of a
// time repeated by fall-back. It is monotonic in c, unlike time.Date.
func (s *Schedule) instant(c int64) time.Time {
	// No zone is a day or more ahead of UTC, so the clock two days before c in UTC
	// reads earlier than c; walk the zone's periods from there.
	p := time.Unix(c-2*day, 0).In(s.loc)
	for range 64 {
		_, off := p.Zone()
		start, end := p.ZoneBounds()
		at := c - int64(off) // when this period's clock reads c
		if !start.IsZero() {
			at = max(at, start.Unix()) // the period opens already past c
		}
		if end.IsZero() || at < end.Unix() {
			return time.Unix(at, 0).In(s.loc)
		}
		p = end
	}
	// Unreachable with real zones: 64 changes of offset within two days.
	return time.Unix(c, 0).In(s.loc)
}

// secondOfWeek returns the seconds since Sunday 00:00 (weeks start on Sunday, like
// time.Weekday) of civil time c.
func secondOfWeek(c int64) int64 {
	// 1970-01-01 was a Thursday.
	return floorMod(c+4*day, week)
}

func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
