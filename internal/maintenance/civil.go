package maintenance

import (
	"time"

	"github.com/klaxon-ops/klaxon/internal/wallclock"
)

// Windows do their cron arithmetic in civil time (package wallclock), as on-call
// schedules do, so a window and a shift edge at the same wall-clock time happen at
// the same instant.

func clock(loc *time.Location, t time.Time) int64   { return wallclock.Clock(loc, t) }
func instant(loc *time.Location, c int64) time.Time { return wallclock.Instant(loc, c) }

// civil and fromCivil carry civil seconds through a time.Time in UTC, which has no
// daylight saving, for the cron schedule to step through.
func civil(c int64) time.Time     { return time.Unix(c, 0).UTC() }
func fromCivil(t time.Time) int64 { return t.Unix() }
