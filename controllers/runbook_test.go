package controllers

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/yaml"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/runbook"
	"github.com/klaxon-ops/klaxon/internal/signature"
	"github.com/klaxon-ops/klaxon/internal/testenv"
)

const runbookActor = "runbook-actor"

// deployment is a Deployment object with replicas; nothing runs its pods (envtest has
// no controller manager), the object is what the actions change.
func deployment(ns, name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To(replicas), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app"}}}}}}
}

// actorWithScaleRights creates the tenant's ServiceAccount for runbook actions and a
// Role that lets it scale the named Deployments, and nothing else.
func actorWithScaleRights(g Gomega, ns string, deployments ...string) {
	ctx := context.Background()
	g.Expect(k8sClient.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: runbookActor, Namespace: ns}})).To(Succeed())
	g.Expect(k8sClient.Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "runbook-scale", Namespace: ns},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{"apps"}, Resources: []string{"deployments/scale"},
			ResourceNames: deployments, Verbs: []string{"get", "patch"}}}})).To(Succeed())
	g.Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "runbook-scale", Namespace: ns},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "runbook-scale"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: runbookActor, Namespace: ns}}})).To(Succeed())
}

func scaleStep(name, deploy string, replicas int32, dryRun bool) klaxonv1.RunbookStep {
	return klaxonv1.RunbookStep{Name: name, Stage: klaxonv1.StageContain, Automatic: true,
		Action: &klaxonv1.RunbookAction{Type: klaxonv1.ActionKubernetes, DryRun: dryRun, Kubernetes: &klaxonv1.KubernetesAction{
			Operation: klaxonv1.OperationScale, APIVersion: "apps/v1", Kind: "Deployment", Name: deploy, Replicas: ptr.To(replicas)}}}
}

// containRunbook is the runbook of the envtest: in Triage a checklist item and a
// message to the customers group; in Contain, automatic actions that succeed, are
// denied, dry-run, overstep the ServiceAccount's rights or leave the namespace, a
// signed webhook call, and one step left to people.
func containRunbook(ns, hookURL string) *klaxonv1.Runbook {
	return &klaxonv1.Runbook{ObjectMeta: metav1.ObjectMeta{Name: "contain", Namespace: ns},
		Spec: klaxonv1.RunbookSpec{
			Selector:           klaxonv1.RunbookSelector{Services: []string{"checkout"}},
			ServiceAccountName: runbookActor,
			Steps: []klaxonv1.RunbookStep{
				{Name: "look", Stage: klaxonv1.StageTriage, Guidance: "Open the checkout dashboard."},
				{Name: "tell-customers", Stage: klaxonv1.StageTriage, Automatic: true, Action: &klaxonv1.RunbookAction{
					Type: klaxonv1.ActionNotify, Notify: &klaxonv1.NotifyAction{GroupRef: klaxonv1.ObjectReference{Name: "customers"},
						Message: "We are looking into {{ .Incident.Service }}."}}},
				scaleStep("stop-web", "web", 0, false), // the tenant's policy allows it
				scaleStep("stop-db", "db", 0, false),   // no policy allows it
				scaleStep("try-api", "api", 1, true),   // a dry run
				scaleStep("grow-db", "db", 4, false),   // allowed, but beyond the ServiceAccount's rights
				{Name: "mark-namespace", Stage: klaxonv1.StageContain, Automatic: true, Action: &klaxonv1.RunbookAction{
					Type: klaxonv1.ActionKubernetes, Kubernetes: &klaxonv1.KubernetesAction{Operation: klaxonv1.OperationLabel,
						APIVersion: "v1", Kind: "Namespace", Name: "default", Labels: map[string]string{"quarantine": "true"}}}},
				{Name: "isolate", Stage: klaxonv1.StageContain, Automatic: true, Action: &klaxonv1.RunbookAction{
					Type: klaxonv1.ActionWebhook, Webhook: &klaxonv1.WebhookAction{SecretRef: &klaxonv1.SecretReference{Name: "automation"}}}},
				{Name: "rotate-keys", Stage: klaxonv1.StageContain, Guidance: "Rotate the payment provider's API keys."},
			},
		}}
}

// automation is an automation endpoint that checks each call's signature, as a
// receiver should, and keeps the Idempotency-Keys of the valid ones.
type automation struct {
	srv  *httptest.Server
	mu   sync.Mutex
	keys []string
	bad  atomic.Int32
}

func (a *automation) calls() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.keys...)
}

func newAutomation(t *testing.T, key []byte) *automation {
	a := &automation{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := signature.Verify([][]byte{key}, r.Header.Get(signature.TimestampHeader), r.Header.Get(signature.SignatureHeader), body, time.Now(), 0); err != nil {
			a.bad.Add(1)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		a.mu.Lock()
		a.keys = append(a.keys, r.Header.Get("Idempotency-Key"))
		a.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

func replicas(g Gomega, ns, name string) int32 {
	var d appsv1.Deployment
	g.Expect(directClient.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, &d)).To(Succeed())
	return *d.Spec.Replicas
}

func stepsByName(inc *klaxonv1.Incident) map[string]klaxonv1.RunbookStepResult {
	out := map[string]klaxonv1.RunbookStepResult{}
	for _, r := range inc.Status.RunbookSteps {
		out[r.Step] = r
	}
	return out
}

// TestRunbookActsWhenIncidentEntersContain runs a runbook against the real API
// server: its Triage steps when the incident opens, its Contain steps when it enters
// Contain, each as the policy and the ServiceAccount's RBAC decide, and none again
// when the incident is reconciled again or re-enters the stage.
func TestRunbookActsWhenIncidentEntersContain(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	key := []byte("automation-signing-key")
	hook := newAutomation(t, key)
	s := newSink(t)

	for _, d := range []*appsv1.Deployment{deployment(ns, "web", 3), deployment(ns, "db", 2), deployment(ns, "api", 3)} {
		g.Expect(k8sClient.Create(ctx, d)).To(Succeed())
	}
	actorWithScaleRights(g, ns, "web", "api")
	g.Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "automation", Namespace: ns},
		Data: map[string][]byte{"url": []byte(hook.srv.URL + "/isolate"), "signingKey": key}})).To(Succeed())
	s.channel(g, ns, "status")
	g.Expect(k8sClient.Create(ctx, &klaxonv1.StakeholderGroup{ObjectMeta: metav1.ObjectMeta{Name: "customers", Namespace: ns},
		Spec: klaxonv1.StakeholderGroupSpec{Audience: klaxonv1.AudienceCustomers,
			Channels: []klaxonv1.GroupChannel{{ChannelRef: klaxonv1.ObjectReference{Name: "status"}, Address: "status-page"}}}})).To(Succeed())
	// The tenant allows its runbook to stop web, to scale anything up and to label;
	// nothing allows stopping db.
	pol := incidentPolicy(ns, "actions", map[string]string{"actions.rego": `package klaxon.actions

allow if {
	input.action.type == "kubernetes"
	input.action.kubernetes.name == "web"
}

allow if {
	input.action.kubernetes.operation == "scale"
	input.action.kubernetes.replicas > 0
}

allow if input.action.kubernetes.operation == "label"
`})
	g.Expect(k8sClient.Create(ctx, pol)).To(Succeed())
	expectReady(g, pol)
	rb := containRunbook(ns, hook.srv.URL)
	g.Expect(k8sClient.Create(ctx, rb)).To(Succeed())
	expectReady(g, rb)

	inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "checkout-breach", Namespace: ns},
		Spec: klaxonv1.IncidentSpec{Title: "card skimming on checkout", Service: "checkout", Severity: klaxonv1.SEV3}}
	g.Expect(k8sClient.Create(ctx, inc)).To(Succeed())

	// Triage: attached by its selector; the message went out, the rest is a checklist.
	g.Eventually(func(g Gomega) {
		got := getIncident(g, ns, inc.Name)
		g.Expect(got.Status.Runbooks).To(Equal([]string{ns + "/contain"}))
		steps := stepsByName(got)
		g.Expect(steps["look"].State).To(Equal(klaxonv1.StepOpen))
		g.Expect(steps["tell-customers"].State).To(Equal(klaxonv1.StepSucceeded), steps["tell-customers"].Message)
		g.Expect(steps).NotTo(HaveKey("stop-web"), "Contain steps wait for Contain")
	}, 20*time.Second).Should(Succeed())
	uid := getIncident(g, ns, inc.Name).UID
	told := runbookMessages(s, uid, ns)
	g.Expect(told).To(HaveLen(1))
	g.Expect(told[0].payload.Text).To(ContainSubstring("We are looking into checkout."))
	g.Expect(replicas(g, ns, "web")).To(Equal(int32(3)), "nothing runs before Contain")

	updateSpec(g, ns, inc.Name, func(i *klaxonv1.Incident) { i.Spec.Stage = klaxonv1.StageContain })
	var got *klaxonv1.Incident
	g.Eventually(func(g Gomega) {
		got = getIncident(g, ns, inc.Name)
		steps := stepsByName(got)
		for _, name := range []string{"stop-web", "stop-db", "try-api", "grow-db", "mark-namespace", "isolate"} {
			g.Expect(steps).To(HaveKey(name))
			g.Expect(steps[name].State).NotTo(Equal(klaxonv1.StepPending), name)
		}
	}, 30*time.Second).Should(Succeed())
	steps := stepsByName(got)
	actor := runbook.ServiceAccountUser(ns, runbookActor)

	// Allowed and within its rights: done, as the ServiceAccount.
	g.Expect(steps["stop-web"].State).To(Equal(klaxonv1.StepSucceeded), steps["stop-web"].Message)
	g.Expect(steps["stop-web"].By).To(Equal(actor))
	g.Expect(replicas(g, ns, "web")).To(Equal(int32(0)))
	// Denied by policy: recorded, not run.
	g.Expect(steps["stop-db"].State).To(Equal(klaxonv1.StepDenied))
	g.Expect(steps["stop-db"].Message).To(ContainSubstring("not allowed by any policy"))
	g.Expect(steps["stop-db"].Decision).NotTo(BeEmpty())
	// A dry run: the API server checked it and changed nothing.
	g.Expect(steps["try-api"].State).To(Equal(klaxonv1.StepDryRun), steps["try-api"].Message)
	g.Expect(replicas(g, ns, "api")).To(Equal(int32(3)))
	// Beyond the ServiceAccount's rights: the API server refused the impersonated
	// request, though Klaxon itself could have done it.
	g.Expect(steps["grow-db"].State).To(Equal(klaxonv1.StepFailed))
	g.Expect(steps["grow-db"].Message).To(ContainSubstring("forbidden"))
	g.Expect(steps["grow-db"].Message).To(ContainSubstring(actor))
	g.Expect(replicas(g, ns, "db")).To(Equal(int32(2)))
	// Outside the namespace: refused.
	g.Expect(steps["mark-namespace"].State).To(Equal(klaxonv1.StepFailed))
	g.Expect(steps["mark-namespace"].Message).To(ContainSubstring("forbidden"))
	var def corev1.Namespace
	g.Expect(directClient.Get(ctx, client.ObjectKey{Name: "default"}, &def)).To(Succeed())
	g.Expect(def.Labels).NotTo(HaveKey("quarantine"))
	// The signed call, once, with a key no other incident's call has.
	g.Expect(steps["isolate"].State).To(Equal(klaxonv1.StepSucceeded), steps["isolate"].Message)
	g.Expect(hook.calls()).To(Equal([]string{string(uid) + "/r0/" + ns + "/contain/isolate"}))
	g.Expect(hook.bad.Load()).To(BeZero())
	g.Expect(steps["rotate-keys"].State).To(Equal(klaxonv1.StepOpen))

	// Who did what is in the timeline, and every gate decision was recorded.
	var actors, types []string
	for _, e := range got.Status.Timeline {
		types = append(types, e.Type)
		if strings.Contains(e.Message, "stop-web") {
			actors = append(actors, e.Actor)
		}
	}
	g.Expect(types).To(ContainElements("RunbooksAttached", "RunbookAction", "RunbookActionDenied", "RunbookActionFailed"))
	g.Expect(actors).To(ContainElement(actor))
	decisions := 0
	for _, d := range got.Status.Decisions {
		if d.Point == "actions" {
			decisions++
		}
	}
	g.Expect(decisions).To(Equal(7), "one actions decision per automatic step")

	// Reconciled again and again, and back in Contain: nothing runs twice. Someone
	// scales web up by hand; a second run would stop it again.
	g.Expect(k8sClient.Patch(ctx, deployment(ns, "web", 0), client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"replicas":3}}`)))).To(Succeed())
	updateSpec(g, ns, inc.Name, func(i *klaxonv1.Incident) { i.Spec.Stage = klaxonv1.StageInvestigate })
	g.Eventually(func() klaxonv1.IncidentStage { return getIncident(g, ns, inc.Name).Status.Stage }).Should(Equal(klaxonv1.StageInvestigate))
	updateSpec(g, ns, inc.Name, func(i *klaxonv1.Incident) {
		i.Spec.Stage = klaxonv1.StageContain
		i.Spec.Notes = append(i.Spec.Notes, klaxonv1.IncidentNote{Author: "alice", Text: "back to containment"})
	})
	g.Eventually(func() klaxonv1.IncidentStage { return getIncident(g, ns, inc.Name).Status.Stage }).Should(Equal(klaxonv1.StageContain))
	g.Consistently(func(g Gomega) {
		g.Expect(replicas(g, ns, "web")).To(Equal(int32(3)))
		g.Expect(hook.calls()).To(HaveLen(1))
		g.Expect(runbookMessages(s, uid, ns)).To(HaveLen(1))
		g.Expect(getIncident(g, ns, inc.Name).Status.RunbookSteps).To(HaveLen(len(got.Status.RunbookSteps)))
	}, 3*time.Second, 200*time.Millisecond).Should(Succeed())

	// A responder ticks the checklist item.
	updateSpec(g, ns, inc.Name, func(i *klaxonv1.Incident) {
		i.Spec.Checklist = append(i.Spec.Checklist, klaxonv1.ChecklistTick{Runbook: "contain", Step: "rotate-keys", By: "alice"})
	})
	g.Eventually(func(g Gomega) {
		r := stepsByName(getIncident(g, ns, inc.Name))["rotate-keys"]
		g.Expect(r.State).To(Equal(klaxonv1.StepDone))
		g.Expect(r.By).To(Equal("alice"))
	}, 10*time.Second).Should(Succeed())
}

// runbookMessages are the runbook's notify deliveries the sink got (the group hears
// nothing else of a SEV3: customers only hear of SEV1 and SEV2).
func runbookMessages(s *sink, uid types.UID, ns string) []arrival {
	var out []arrival
	for _, a := range s.all() {
		if strings.HasPrefix(a.key, string(uid)+"/r0/"+ns+"/contain/tell-customers/") {
			out = append(out, a)
		}
	}
	return out
}

// countingExecutor counts the actions it runs.
type countingExecutor struct{ runs atomic.Int32 }

func (c *countingExecutor) Execute(context.Context, runbook.Action) runbook.Outcome {
	c.runs.Add(1)
	time.Sleep(50 * time.Millisecond) // long enough for the other replica to try
	return runbook.Outcome{State: klaxonv1.StepSucceeded, By: "test", Message: "counted"}
}

// TestRunbookClaimsBeforeActing races two reconcilers, as two replicas after a
// leader change would, over one incident in Contain: each allowed step runs exactly
// once, because a step is claimed with a conditional status write before it runs.
func TestRunbookClaimsBeforeActing(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	rb := &klaxonv1.Runbook{ObjectMeta: metav1.ObjectMeta{Name: "race", Namespace: ns},
		Spec: klaxonv1.RunbookSpec{Steps: []klaxonv1.RunbookStep{
			{Name: "one", Stage: klaxonv1.StageContain, Automatic: true, Action: &klaxonv1.RunbookAction{Type: klaxonv1.ActionSetStage, SetStage: klaxonv1.StageContain}},
			{Name: "two", Stage: klaxonv1.StageContain, Automatic: true, Action: &klaxonv1.RunbookAction{Type: klaxonv1.ActionWebhook,
				Webhook: &klaxonv1.WebhookAction{URL: "https://automation.example/x"}}},
		}}}
	g.Expect(k8sClient.Create(ctx, rb)).To(Succeed())
	// Invisible to the suite's manager: only the two reconcilers below act on it.
	inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "raced", Namespace: ns, Labels: map[string]string{directLabel: "true"}},
		Spec: klaxonv1.IncidentSpec{Title: "raced", Stage: klaxonv1.StageContain}}
	g.Expect(directClient.Create(ctx, inc)).To(Succeed())
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	inc.Status = klaxonv1.IncidentStatus{TriggeredAt: &now, State: klaxonv1.StateTriggered, Stage: klaxonv1.StageContain,
		Runbooks: []string{ns + "/race"}}
	g.Expect(directClient.Status().Update(ctx, inc)).To(Succeed())
	g.Eventually(func() error { return apiReader.Get(ctx, client.ObjectKeyFromObject(rb), &klaxonv1.Runbook{}) }).Should(Succeed())

	counter := &countingExecutor{}
	replica := func() *RunbookRunReconciler {
		return &RunbookRunReconciler{Client: directClient, APIReader: directClient, Recorder: &events.FakeRecorder{},
			Gate: runbook.Gate{Engine: engine}, SystemNamespace: systemNamespace, Now: time.Now,
			Executors: runbook.Executors{klaxonv1.ActionSetStage: counter, klaxonv1.ActionWebhook: counter}}
	}
	a, b := replica(), replica()
	req := reconcile.Request{NamespacedName: client.ObjectKeyFromObject(inc)}
	var wg sync.WaitGroup
	for range 3 {
		for _, r := range []*RunbookRunReconciler{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := r.Reconcile(ctx, req)
				g.Expect(err).NotTo(HaveOccurred())
			}()
		}
	}
	wg.Wait()
	for _, r := range []*RunbookRunReconciler{a, b, a} {
		_, err := r.Reconcile(ctx, req)
		g.Expect(err).NotTo(HaveOccurred())
	}
	g.Expect(counter.runs.Load()).To(Equal(int32(2)), "each of the two steps ran once")
	var got klaxonv1.Incident
	g.Expect(directClient.Get(ctx, client.ObjectKeyFromObject(inc), &got)).To(Succeed())
	g.Expect(got.Status.RunbookSteps).To(HaveLen(2))
	for _, r := range got.Status.RunbookSteps {
		g.Expect(r.State).To(Equal(klaxonv1.StepSucceeded), r.Step)
	}
	// The claims that lost left no actions decision behind: every one stored is one
	// status refers to.
	referred := map[string]bool{}
	for _, d := range got.Status.Decisions {
		referred[d.ID] = true
	}
	var decisions klaxonv1.IncidentDecisionList
	g.Expect(directClient.List(ctx, &decisions, client.InNamespace(ns))).To(Succeed())
	g.Expect(decisions.Items).NotTo(BeEmpty())
	for _, rec := range decisions.Items {
		for _, d := range rec.Spec.Decisions {
			g.Expect(referred).To(HaveKey(d.ID), "decision %s in %s is referred to by no status", d.ID, rec.Name)
		}
	}
}

// TestRunbookReadiness: a Runbook reports the ServiceAccount and stakeholder group it
// misses, and turns Ready by itself when they appear.
func TestRunbookReadiness(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	rb := &klaxonv1.Runbook{ObjectMeta: metav1.ObjectMeta{Name: "ready", Namespace: ns},
		Spec: klaxonv1.RunbookSpec{ServiceAccountName: runbookActor, Steps: []klaxonv1.RunbookStep{
			scaleStep("stop", "web", 0, false),
			{Name: "tell", Stage: klaxonv1.StageTriage, Action: &klaxonv1.RunbookAction{Type: klaxonv1.ActionNotify,
				Notify: &klaxonv1.NotifyAction{GroupRef: klaxonv1.ObjectReference{Name: "ops"}, Message: "{{ .Incident.Title }}"}}},
		}}}
	g.Expect(k8sClient.Create(ctx, rb)).To(Succeed())
	expectNotReady(g, rb, klaxonv1.ReasonReferenceNotFound, "ServiceAccount "+ns+"/"+runbookActor+" not found (spec.serviceAccountName)")

	g.Expect(k8sClient.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: runbookActor, Namespace: ns}})).To(Succeed())
	expectNotReady(g, rb, klaxonv1.ReasonReferenceNotFound, "StakeholderGroup "+ns+"/ops not found (spec.steps[1].action.notify.groupRef)")

	g.Expect(k8sClient.Create(ctx, webhookChannel(ns, "ops"))).To(Succeed())
	g.Expect(k8sClient.Create(ctx, &klaxonv1.StakeholderGroup{ObjectMeta: metav1.ObjectMeta{Name: "ops", Namespace: ns},
		Spec: klaxonv1.StakeholderGroupSpec{Audience: klaxonv1.AudienceResponders,
			Channels: []klaxonv1.GroupChannel{{ChannelRef: klaxonv1.ObjectReference{Name: "ops"}}}}})).To(Succeed())
	expectReady(g, rb)

	// A message that is not a template is a mistake only the author can fix.
	g.Eventually(func() error {
		if err := k8sClient.Get(ctx, client.ObjectKeyFromObject(rb), rb); err != nil {
			return err
		}
		rb.Spec.Steps[1].Action.Notify.Message = "{{ .Incident.Title"
		return k8sClient.Update(ctx, rb)
	}).Should(Succeed())
	expectNotReady(g, rb, klaxonv1.ReasonInvalidSpec, "spec.steps[1].action.notify.message")
}

// TestRunbookActionsRoleIsOptIn runs a kubernetes action as a controller that is not
// an administrator: a ServiceAccount holding only config/rbac/runbook_actions_role.yaml,
// bound in one tenant's namespace. There it can act as the tenant's ServiceAccount;
// in a namespace that did not opt in it cannot impersonate anyone.
func TestRunbookActionsRoleIsOptIn(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "runbook_actions_role.yaml"))
	g.Expect(err).NotTo(HaveOccurred())
	var role rbacv1.ClusterRole
	g.Expect(yaml.Unmarshal(raw, &role)).To(Succeed())
	g.Expect(role.Name).To(Equal("klaxon-runbook-actions"))
	g.Expect(k8sClient.Create(ctx, &role)).To(Or(Succeed(), Satisfy(apierrors.IsAlreadyExists)))

	// The controller's identity: a ServiceAccount token, no admin rights.
	home := newNamespace(t)
	g.Expect(k8sClient.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "klaxon", Namespace: home}})).To(Succeed())
	cs, err := kubernetes.NewForConfig(restCfg)
	g.Expect(err).NotTo(HaveOccurred())
	tok, err := cs.CoreV1().ServiceAccounts(home).CreateToken(ctx, "klaxon", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	g.Expect(err).NotTo(HaveOccurred())
	controller := &rest.Config{Host: restCfg.Host, TLSClientConfig: rest.TLSClientConfig{CAData: restCfg.CAData}, BearerToken: tok.Status.Token}
	exec := runbook.KubernetesExecutor{Config: controller, Mapper: k8sClient.RESTMapper()}

	tenant := func(optIn bool) (string, runbook.Action) {
		ns := newNamespace(t)
		g.Expect(k8sClient.Create(ctx, deployment(ns, "web", 3))).To(Succeed())
		actorWithScaleRights(g, ns, "web")
		if optIn {
			g.Expect(k8sClient.Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "klaxon-runbook-actions", Namespace: ns},
				RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: role.Name},
				Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "klaxon", Namespace: home}}})).To(Succeed())
		}
		rb := containRunbook(ns, "")
		step := scaleStep("grow-web", "web", 5, false)
		inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: "i", Namespace: ns}}
		return ns, runbook.Action{Incident: inc, Step: runbook.Step{Runbook: rb, Step: &step}, Key: "r0/x", Now: time.Now()}
	}

	optedIn, a := tenant(true)
	// RBAC caches settle within a moment of the binding's creation.
	g.Eventually(func() klaxonv1.RunbookStepState { return exec.Execute(ctx, a).State }, 10*time.Second).Should(Equal(klaxonv1.StepSucceeded))
	g.Expect(replicas(g, optedIn, "web")).To(Equal(int32(5)))

	other, b := tenant(false)
	o := exec.Execute(ctx, b)
	g.Expect(o.State).To(Equal(klaxonv1.StepFailed))
	g.Expect(o.Message).To(ContainSubstring("cannot impersonate"))
	g.Expect(replicas(g, other, "web")).To(Equal(int32(3)))
}
