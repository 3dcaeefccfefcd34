// Package maintenance decides whether an alert falls in a MaintenanceWindow and what
// the window does with it (suppress or downgrade). It is pure: the caller passes the
// time, so windows are tested with explicit instants.
//
// A one-off window is active from start (inclusive) to end (exclusive).
//
// A recurring window opens at every time its cron expression names, read on the wall
// clock of its time zone (UTC when empty), and stays open for its duration, measured in
// elapsed time. Occurrences that overlap or touch form one open period.
//
// Daylight saving follows the same rule as package oncall (and as cron daemons): a
// wall-clock time happens at the first instant the zone's clock reads it or later. So a
// nightly 02:30 window on the day clocks spring forward past 02:30 (2026-03-29 in
// Europe/Berlin) opens when the clock jumps, at 03:00 CEST, and a 1h window closes at
// 04:00 CEST; maintenance scheduled by a cron job in the skipped hour runs then too.
// On the day clocks fall back, 02:30 happens at its first occurrence (CEST) only, and a
// 1h window closes an elapsed hour later, when the clock reads 02:30 again (CET).
// This differs from time.Date, which moves skipped times forward in some zones and
// back in others, and from robfig/cron's own scheduler (used here only on civil time, which has no DST),
// which skips the spring-forward day's run and runs twice on the fall-back day.
package maintenance
