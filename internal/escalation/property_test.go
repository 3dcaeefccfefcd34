package escalation

import (
	"math/rand/v2"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// TestAdvanceProperties drives random policies through random calls (times that only
// move forward, acknowledgements, policy edits, restarts) and checks what must always
// hold: no page early, none twice, pages in order, and a status that says the same
// after a round trip.
func TestAdvanceProperties(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	randomPlan := func() Plan {
		var levels []klaxonv1.EscalationLevel
		for i := range 1 + rng.IntN(4) {
			levels = append(levels, level(string(rune('a'+i)), time.Duration(rng.IntN(600))*time.Second))
		}
		spec := policy(int32(rng.IntN(3)), time.Duration(rng.IntN(900))*time.Second, levels...)
		adj := Adjustments{StartLevel: int32(rng.IntN(3))}
		if rng.IntN(3) == 0 {
			adj.ExtraLevels = []klaxonv1.EscalationLevel{level("x", time.Duration(rng.IntN(600))*time.Second)}
		}
		return NewPlan(spec, adj)
	}
	for run := range 500 {
		p := randomPlan()
		trigger := t0.Add(time.Duration(rng.IntN(1000)) * time.Millisecond)
		now := trigger
		var st klaxonv1.EscalationStatus
		type pos struct{ level, cycle int32 }
		paged := map[pos]bool{}
		var last pos
		for range 60 {
			now = now.Add(time.Duration(rng.IntN(400)) * time.Second)
			state := klaxonv1.StateTriggered
			if rng.IntN(5) == 0 {
				state = klaxonv1.StateAcknowledged
			}
			if rng.IntN(15) == 0 {
				p = randomPlan()
			}
			step := Advance(p, st, trigger, state, now)
			for _, pg := range step.Pages {
				k := pos{pg.Level, pg.Cycle}
				switch {
				case pg.DueAt.After(now):
					t.Fatalf("run %d: L%dc%d due %s paged at %s", run, pg.Level, pg.Cycle, pg.DueAt, now)
				case paged[k]:
					t.Fatalf("run %d: L%dc%d paged twice", run, pg.Level, pg.Cycle)
				case k.cycle < last.cycle || (k.cycle == last.cycle && k.level <= last.level):
					t.Fatalf("run %d: L%dc%d after L%dc%d", run, k.level, k.cycle, last.level, last.cycle)
				}
				paged[k], last = true, k
			}
			if !step.Next.IsZero() && !step.Next.After(now) {
				t.Fatalf("run %d: next %s is not after now %s", run, step.Next, now)
			}
			st = roundTrip(t, step.Status)
			if st.NextEscalationAt != nil && !st.NextEscalationAt.Time.Equal(step.Next) {
				t.Fatalf("run %d: stored deadline %s differs from %s", run, st.NextEscalationAt, step.Next)
			}
		}
	}
}

func TestEpisodeStart(t *testing.T) {
	trig, reopen := metav1.NewTime(t0), metav1.NewTime(t0.Add(time.Hour))
	if got := EpisodeStart(klaxonv1.IncidentStatus{TriggeredAt: &trig}); !got.Equal(t0) {
		t.Errorf("first episode starts %s", got)
	}
	if got := EpisodeStart(klaxonv1.IncidentStatus{TriggeredAt: &trig, ReopenedAt: &reopen}); !got.Equal(reopen.Time) {
		t.Errorf("reopened episode starts %s", got)
	}
	if got := EpisodeStart(klaxonv1.IncidentStatus{}); !got.IsZero() {
		t.Errorf("unobserved incident starts %s", got)
	}
}
