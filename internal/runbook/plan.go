package runbook

import (
	"strconv"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/incident"
)

const (
	// MaxSteps is the bound on status.runbookSteps (the CRD's maxItems).
	MaxSteps = 64
	// StaleAfter is how old a Pending claim must be before it counts as
	// interrupted: longer than any action may take (ActionTimeout), so a claim
	// another replica is still working on is left alone.
	StaleAfter = 2 * time.Minute
	// ActionTimeout bounds one action.
	ActionTimeout = 30 * time.Second
	// maxMessage is the bound on an entry's message (the CRD's maxLength).
	maxMessage = 256
)

// Step is one step of an attached runbook.
type Step struct {
	Runbook *klaxonv1.Runbook
	Step    *klaxonv1.RunbookStep
}

// Name is the step's runbook as namespace/name.
func (s Step) Name() string { return s.Runbook.Namespace + "/" + s.Runbook.Name }

// Tick is a new spec.checklist entry, resolved against the attached runbooks.
type Tick struct {
	klaxonv1.ChecklistTick
	// Step it ticks; its Step is nil when no attached runbook has it.
	Step Step
}

// Plan is what one reconcile does with an incident's runbooks.
type Plan struct {
	// Due are the automatic steps of the current stage that have no entry in this
	// episode, in runbook then step order: gate each, then ClaimSteps.
	Due []Step
	// Checklist are the other steps of the current stage without an entry yet.
	Checklist []Step
	// Ticks are the spec.checklist entries not recorded yet.
	Ticks []Tick
	// Interrupted are indexes into status.runbookSteps of Pending claims older than
	// StaleAfter: their controller stopped mid-action, the outcome is unknown.
	Interrupted []int
	// Next is when a Pending claim turns stale; zero when none waits.
	Next time.Time
	// Full is true when status.runbookSteps has no room for some due step,
	// checklist item or tick: they are left out and wait (entries of earlier
	// reopens make room first; this episode's are never dropped).
	Full bool
	// resetSeen: ticks were removed from spec since they were recorded.
	resetSeen bool
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool {
	return len(p.Due) == 0 && len(p.Checklist) == 0 && len(p.Ticks) == 0 && len(p.Interrupted) == 0 && !p.resetSeen
}

// PlanSteps plans the steps of the incident's current stage (status.stage, the stage
// the controller has observed) in the attached runbooks: those of runbooks that
// status.runbooks names, in its order. A step runs once per episode, the first time the
// incident is in its stage with the runbook attached; entering the stage again does
// not repeat it.
func PlanSteps(inc *klaxonv1.Incident, runbooks []klaxonv1.Runbook, now time.Time) Plan {
	var p Plan
	st := &inc.Status
	if st.TriggeredAt == nil {
		return p
	}
	for _, rb := range attached(st.Runbooks, runbooks) {
		for j := range rb.Spec.Steps {
			s := Step{Runbook: rb, Step: &rb.Spec.Steps[j]}
			if s.Step.Stage != st.Stage || Find(st.RunbookSteps, st.ReopenCount, s.Name(), s.Step.Name) >= 0 {
				continue
			}
			if s.Step.Automatic && s.Step.Action != nil {
				p.Due = append(p.Due, s)
			} else {
				p.Checklist = append(p.Checklist, s)
			}
		}
	}

	ticks := inc.Spec.Checklist
	seen := int(st.ChecklistSeen)
	if seen > len(ticks) {
		seen, p.resetSeen = len(ticks), true
	}
	for _, t := range ticks[seen:] {
		tick := Tick{ChecklistTick: t}
		name := qualify(inc.Namespace, t.Runbook)
		for _, rb := range attached(st.Runbooks, runbooks) {
			if rb.Namespace+"/"+rb.Name != name {
				continue
			}
			for j := range rb.Spec.Steps {
				if rb.Spec.Steps[j].Name == t.Step {
					tick.Step = Step{Runbook: rb, Step: &rb.Spec.Steps[j]}
				}
			}
		}
		p.Ticks = append(p.Ticks, tick)
	}

	p.fit(st)

	for i, r := range st.RunbookSteps {
		if r.State != klaxonv1.StepPending || r.Time == nil {
			continue
		}
		stale := r.Time.Add(StaleAfter)
		if !now.Before(stale) {
			p.Interrupted = append(p.Interrupted, i)
		} else if p.Next.IsZero() || stale.Before(p.Next) {
			p.Next = stale
		}
	}
	return p
}

// attached returns the runbooks named in names (status.runbooks), in that order.
func attached(names []string, runbooks []klaxonv1.Runbook) []*klaxonv1.Runbook {
	var out []*klaxonv1.Runbook
	for _, n := range names {
		for i := range runbooks {
			if runbooks[i].Namespace+"/"+runbooks[i].Name == n {
				out = append(out, &runbooks[i])
				break
			}
		}
	}
	return out
}

// fit cuts the plan to the room status.runbookSteps has once entries of earlier
// episodes are dropped: due steps first, then ticks, then the checklist. A tick
// that does not fit stays unrecorded (ChecklistSeen does not pass it) until there is
// room.
func (p *Plan) fit(st *klaxonv1.IncidentStatus) {
	free := MaxSteps - len(compact(st.RunbookSteps, st.ReopenCount, 0))
	if len(p.Due) > free {
		p.Due, p.Full = p.Due[:max(free, 0)], true
	}
	free -= len(p.Due)
	fresh := map[string]bool{}
	for i, t := range p.Ticks {
		if t.Step.Step == nil || Find(st.RunbookSteps, st.ReopenCount, t.Step.Name(), t.Step.Step.Name) >= 0 {
			continue
		}
		k := t.Step.Name() + "/" + t.Step.Step.Name
		if fresh[k] {
			continue
		}
		if free == 0 {
			p.Ticks, p.Full = p.Ticks[:i], true
			break
		}
		fresh[k] = true
		free--
	}
	// A ticked step gets its entry from the tick, not as an Open item.
	var list []Step
	for _, s := range p.Checklist {
		if !fresh[s.Name()+"/"+s.Step.Name] {
			list = append(list, s)
		}
	}
	if len(list) > free {
		list, p.Full = list[:max(free, 0)], true
	}
	p.Checklist = list
}

// Verdict is the actions gate's answer for a due step.
type Verdict struct {
	// Allow is true when the action may run.
	Allow bool
	// DryRun is true when the action runs without effect (the step's or the
	// runbook's dryRun).
	DryRun bool
	// Decision is the id of the policy decision.
	Decision string
	// Reasons the policy gave.
	Reasons []string
}

// Claim is an action claimed in status: run it, then Record its Outcome.
type Claim struct {
	Step
	DryRun bool
	// Key identifies the run within the incident: episode, runbook and step.
	// Receivers get it behind the incident's UID (Action.Key).
	Key string
}

// ClaimResult is what ClaimSteps wrote.
type ClaimResult struct {
	// Claims to run, in order.
	Claims []Claim
	// Denied steps, in order, for events.
	Denied []Step
}

// ClaimSteps writes into st what p decided, before anything runs: a Pending entry for each
// allowed due step and a Denied one for each denied (verdicts is parallel to
// p.Due), Open entries for the checklist, Done for ticks, and Failed for interrupted
// claims; each with a timeline entry where people care. The caller writes status
// with a conditional update and runs the returned claims only if that succeeds.
func ClaimSteps(inc *klaxonv1.Incident, p Plan, verdicts []Verdict, now time.Time) ClaimResult {
	var res ClaimResult
	st := &inc.Status
	at := now.Truncate(time.Second)

	for _, i := range p.Interrupted {
		r := &st.RunbookSteps[i]
		r.State, r.Time = klaxonv1.StepFailed, timePtr(at)
		r.Message = clip("interrupted: Klaxon stopped while the action ran; its outcome is unknown and it is not run again")
		timeline(st, at, "RunbookActionFailed", "klaxon", describe(r)+": "+r.Message)
	}

	// PlanSteps made the plan fit once earlier episodes' entries are dropped.
	st.RunbookSteps = compact(st.RunbookSteps, st.ReopenCount, MaxSteps-len(p.Due)-len(p.Checklist)-len(p.Ticks))
	if p.resetSeen {
		// Ticks were removed from spec; the timeline keeps what they said.
		st.ChecklistSeen = int32(len(inc.Spec.Checklist))
	}

	for i, s := range p.Due {
		v := verdicts[i]
		r := entry(st.ReopenCount, s, at)
		r.Decision = clipTo(v.Decision, 64)
		if !v.Allow {
			r.State, r.By = klaxonv1.StepDenied, "klaxon"
			r.Message = clip("denied by policy: " + orNone(v.Reasons))
			st.RunbookSteps = append(st.RunbookSteps, r)
			timeline(st, at, "RunbookActionDenied", "klaxon", describe(&r)+" "+r.Message)
			res.Denied = append(res.Denied, s)
			continue
		}
		r.State = klaxonv1.StepPending
		if v.DryRun {
			r.Message = "dry run"
		}
		st.RunbookSteps = append(st.RunbookSteps, r)
		res.Claims = append(res.Claims, Claim{Step: s, DryRun: v.DryRun, Key: Key(st.ReopenCount, s.Name(), s.Step.Name)})
	}

	for _, t := range p.Ticks {
		st.ChecklistSeen++
		if t.Step.Step == nil {
			continue // a tick of a step no attached runbook has: nothing to record
		}
		i := Find(st.RunbookSteps, st.ReopenCount, t.Step.Name(), t.Step.Step.Name)
		if i < 0 {
			st.RunbookSteps = append(st.RunbookSteps, entry(st.ReopenCount, t.Step, at))
			i = len(st.RunbookSteps) - 1
		}
		r := &st.RunbookSteps[i]
		if r.State == klaxonv1.StepPending || r.State == klaxonv1.StepSucceeded || r.State == klaxonv1.StepDone {
			continue // done already, or under way: a tick does not change what happened
		}
		r.State, r.By, r.Time, r.Message = klaxonv1.StepDone, clipTo(t.By, 253), timePtr(at), "done by hand"
		timeline(st, at, "ChecklistDone", t.By, describe(r)+" done")
	}

	for _, s := range p.Checklist {
		r := entry(st.ReopenCount, s, at)
		r.State = klaxonv1.StepOpen
		st.RunbookSteps = append(st.RunbookSteps, r)
	}
	return res
}

// Outcome is how one claimed action went.
type Outcome struct {
	// State is Succeeded, Failed or DryRun.
	State klaxonv1.RunbookStepState
	// By is who acted: the impersonated ServiceAccount, or klaxon.
	By string
	// Message says what was done, or what went wrong.
	Message string
}

// Record writes the outcomes of claims (parallel slices) into st, with a timeline
// entry each. Recording again is harmless: entries are found by episode, runbook
// and step, and an outcome already recorded is left as it is.
func Record(st *klaxonv1.IncidentStatus, claims []Claim, outcomes []Outcome, now time.Time) {
	at := now.Truncate(time.Second)
	for i, c := range claims {
		o := outcomes[i]
		reopen := reopenOf(c.Key)
		j := Find(st.RunbookSteps, reopen, c.Name(), c.Step.Step.Name)
		if j < 0 {
			// Claims are never compacted away; only a hand edit of status gets here.
			st.RunbookSteps = append(st.RunbookSteps, entry(reopen, c.Step, at))
			j = len(st.RunbookSteps) - 1
		}
		r := &st.RunbookSteps[j]
		if r.State != klaxonv1.StepPending && r.State != klaxonv1.StepFailed {
			continue
		}
		if r.State == klaxonv1.StepFailed && !strings.HasPrefix(r.Message, "interrupted") {
			continue
		}
		r.State, r.By, r.Time, r.Message = o.State, clipTo(o.By, 253), timePtr(at), clip(o.Message)
		typ := "RunbookAction"
		if o.State == klaxonv1.StepFailed {
			typ = "RunbookActionFailed"
		}
		timeline(st, at, typ, o.By, describe(r)+": "+o.Message)
	}
}

// Key identifies a step's run in an episode: "r<reopenCount>/<namespace>/<runbook>/<step>".
func Key(reopenCount int32, runbook, step string) string {
	return "r" + strconv.Itoa(int(reopenCount)) + "/" + runbook + "/" + step
}

// Find returns the index of the entry of runbook and step in episode reopenCount,
// or -1.
func Find(results []klaxonv1.RunbookStepResult, reopenCount int32, runbook, step string) int {
	for i, r := range results {
		if r.ReopenCount == reopenCount && r.Runbook == runbook && r.Step == step {
			return i
		}
	}
	return -1
}

// compact drops entries of earlier episodes, oldest first, until at most limit
// remain or only this episode's and Pending ones are left: this episode's entries
// say what already ran, so dropping one could run it again.
func compact(results []klaxonv1.RunbookStepResult, reopenCount int32, limit int) []klaxonv1.RunbookStepResult {
	n := len(results)
	if n <= limit {
		return results
	}
	out := make([]klaxonv1.RunbookStepResult, 0, n)
	for _, r := range results {
		if n > limit && r.ReopenCount != reopenCount && r.State != klaxonv1.StepPending {
			n--
			continue
		}
		out = append(out, r)
	}
	return out
}

func entry(reopen int32, s Step, at time.Time) klaxonv1.RunbookStepResult {
	r := klaxonv1.RunbookStepResult{Runbook: s.Name(), Step: s.Step.Name, Stage: s.Step.Stage, ReopenCount: reopen, Time: timePtr(at)}
	if s.Step.Action != nil {
		r.Action = s.Step.Action.Type
	}
	return r
}

// describe names an entry for the timeline: "runbook acme/db step isolate (kubernetes)".
func describe(r *klaxonv1.RunbookStepResult) string {
	s := "runbook " + r.Runbook + " step " + r.Step
	if r.Action != "" {
		s += " (" + string(r.Action) + ")"
	}
	return s
}

func qualify(ns, name string) string {
	if strings.Contains(name, "/") {
		return name
	}
	return ns + "/" + name
}

func reopenOf(key string) int32 {
	var n int32
	for _, c := range strings.TrimPrefix(strings.SplitN(key, "/", 2)[0], "r") {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int32(c-'0')
	}
	return n
}

func orNone(reasons []string) string {
	if len(reasons) == 0 {
		return "no policy allows it"
	}
	return strings.Join(reasons, "; ")
}

func clip(s string) string { return clipTo(s, maxMessage) }

// clipTo shortens s to at most n bytes on a character boundary.
func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

func timePtr(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t)
	return &mt
}

// timeline appends an entry: who did what to the incident, when.
func timeline(st *klaxonv1.IncidentStatus, at time.Time, typ, actor, msg string) {
	incident.AppendTimeline(st, klaxonv1.TimelineEntry{Time: metav1.NewTime(at), Type: typ, Actor: clipTo(actor, 253), Message: msg})
}
