package oncall

import (
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// fuzzZones include skipped and repeated half hours (Lord Howe), a skipped day
// (Apia, 2011) and odd offsets.
var fuzzZones = []string{"UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Pacific/Apia", "Asia/Kathmandu", "America/St_Johns"}

// FuzzAt compiles random schedules and checks that At and NextHandoff never panic and
// that a handoff is strictly later, changes who is on call, and is the first change.
func FuzzAt(f *testing.F) {
	f.Add(uint8(1), uint16(100), uint16(540), uint32(10079), uint8(0b1110), uint8(0x1f), uint16(540), uint16(1020), int32(5000), uint16(120), int64(3600*24*90), int64(3600*24*7))
	f.Add(uint8(2), uint16(0), uint16(150), uint32(1439), uint8(0b0101), uint8(0), uint16(1320), uint16(360), int32(-100), uint16(0), int64(-3600*24*400), int64(3600*24*30))
	f.Add(uint8(3), uint16(2000), uint16(120), uint32(29), uint8(0b11), uint8(0x7f), uint16(0), uint16(0), int32(0), uint16(9999), int64(1<<40), int64(-5))
	f.Add(uint8(4), uint16(1500), uint16(0), uint32(0), uint8(0), uint8(0x40), uint16(1439), uint16(1), int32(1<<30), uint16(1), int64(-1<<62), int64(1<<62))
	f.Fuzz(func(t *testing.T, zone uint8, startDay, handoff uint16, rotMinutes uint32, who, days uint8,
		winStart, winEnd uint16, ovStart int32, ovMinutes uint16, tSec, probeSec int64,
	) {
		names := []string{"alice", "bob"}
		var responders []string
		for i := range int(who&3) + 1 {
			responders = append(responders, names[int(who>>(2+i))&1])
		}
		clock := func(m uint16) string {
			return time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(m%1440) * time.Minute).Format("15:04")
		}
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		start := base.AddDate(0, 0, int(startDay%4000)-2000).Format(time.DateOnly)
		rot := time.Duration(rotMinutes%(60*24*60)+1) * time.Minute
		layers := []klaxonv1.ScheduleLayer{rotation("bottom", start, clock(handoff), rot, responders...)}
		if days != 0 {
			top := rotation("top", start, clock(handoff), weekly, "carol")
			var ds []klaxonv1.Weekday
			for d, name := range []klaxonv1.Weekday{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"} {
				if days&(1<<d) != 0 {
					ds = append(ds, name)
				}
			}
			layers = append(layers, restricted(top, clock(winStart), clock(winEnd), ds...))
		}
		spec := klaxonv1.OnCallScheduleSpec{TimeZone: fuzzZones[int(zone)%len(fuzzZones)], Layers: layers}
		if ovMinutes != 0 {
			ovAt := base.Add(time.Duration(ovStart) * time.Minute)
			spec.Overrides = []klaxonv1.ScheduleOverride{{
				Responder: klaxonv1.ObjectReference{Name: "dave"},
				Start:     metav1.NewTime(ovAt),
				End:       metav1.NewTime(ovAt.Add(time.Duration(ovMinutes) * time.Minute)),
			}}
		}
		s, err := Compile(spec)
		if err != nil {
			t.Fatalf("Compile: %v", err)
		}

		// Mostly within a few decades of the layers, sometimes anywhere.
		at := time.Unix(tSec, int64(uint64(tSec)%1e9))
		if tSec%4 != 0 {
			at = base.Add(time.Duration(tSec % int64(40*365*24*time.Hour)))
		}
		now := s.At(at).Responders
		h, ok := s.NextHandoff(at)
		if !ok {
			// Nothing changes within the horizon.
			probe := at.Add(time.Duration(uint64(probeSec) % uint64(700*24*time.Hour)))
			if got := s.At(probe).Responders; !slices.Equal(got, now) {
				t.Fatalf("NextHandoff(%s): none, but At(%s) = %v, not %v", at, probe, got, now)
			}
			return
		}
		if !h.At.After(at) {
			t.Fatalf("NextHandoff(%s) = %s, not after", at, h.At)
		}
		if got := s.At(h.At).Responders; !slices.Equal(got, h.Next.Responders) || slices.Equal(got, now) {
			t.Fatalf("NextHandoff(%s) = %s %v; At there %v, before %v", at, h.At, h.Next.Responders, got, now)
		}
		if got := s.At(h.At.Add(-time.Nanosecond)).Responders; !slices.Equal(got, now) {
			t.Fatalf("NextHandoff(%s) = %s, but At a nanosecond earlier is %v, not %v", at, h.At, got, now)
		}
		if probe := at.Add(time.Duration(uint64(probeSec) % uint64(h.At.Sub(at)))); !slices.Equal(s.At(probe).Responders, now) {
			t.Fatalf("NextHandoff(%s) = %s, but At(%s) = %v, not %v", at, h.At, probe, s.At(probe).Responders, now)
		}
	})
}
