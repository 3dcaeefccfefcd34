package oncall

import (
	"time"

	"github.com/klaxon-ops/klaxon/internal/wallclock"
)

// Civil times are int64 seconds since 1970-01-01 00:00 on the zone's wall clock. Every
// declared time is a whole number of seconds there, so integer arithmetic is exact and
// daylight saving plays no part until a civil time is turned into an instant.
const (
	day  = wallclock.Day
	week = 7 * day
	// never is the civil time of an event that does not happen.
	never = int64(1<<63 - 1)
)

// clock returns the civil time the schedule has reached at t (wallclock.Clock).
func (s *Schedule) clock(t time.Time) int64 { return wallclock.Clock(s.loc, t) }

// instant returns the first instant at which the schedule's clock reads civil time c
// or later (wallclock.Instant).
func (s *Schedule) instant(c int64) time.Time { return wallclock.Instant(s.loc, c) }

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
