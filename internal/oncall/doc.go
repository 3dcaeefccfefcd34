// Package oncall answers who is on call for an OnCallSchedule at an instant, and when
// that next changes. It is pure: it never reads the clock, the caller passes the time.
//
// Everything a schedule declares (layer start and end dates, handoff times, restriction
// windows) is wall-clock time in the schedule's IANA time zone (UTC when empty), the
// way PagerDuty and Opsgenie read it:
//
//   - Shift k (k >= 0) of a layer begins at start date + handoffTime + k*rotationLength,
//     counted on the wall clock. A 24h or 168h rotation therefore hands off at 09:00
//     local every time, and the shift that spans a daylight-saving change lasts 23h or
//     25h; a 12h rotation from 09:00 hands off at 09:00 and 21:00. Shift k belongs to
//     responders[k mod len(responders)].
//   - A layer is empty before its first shift and from end date + handoffTime on.
//   - A layer with restrictions is on call only inside one of their windows. A window
//     starts on each listed day (every day when none are listed) at startTime and ends
//     at endTime the same day, or the next day when endTime <= startTime, so
//     00:00-00:00 is a whole day. Windows that touch merge: a layer covered all week
//     is simply always on.
//   - The highest-indexed layer with someone on call wins; an empty layer lets the
//     layers below it show through.
//   - An override wins over every layer from its start (inclusive) to its end
//     (exclusive); of overlapping overrides the one listed last wins. Its Shift.Layer is
//     OverrideLayer.
//
// A wall-clock time happens at the first instant the zone's clock reads it or later.
// So a handoff at a time skipped when clocks spring forward (02:30 on 2026-03-29 in
// Europe/Berlin) happens when the clock jumps (03:00 CEST); a time repeated when clocks
// fall back happens at its first occurrence, and nothing happens again during the
// repeated hour. This differs from time.Date, which moves skipped times forward in
// Berlin but back in New York and picks either occurrence of a repeated time; the rule
// here is the same in every zone and keeps shift starts in order even for rotations
// shorter than the skipped hour.
//
// Layers are evaluated for instants in the years 1 to 9999, the range a Kubernetes
// timestamp can hold; outside it only overrides apply.
package oncall
