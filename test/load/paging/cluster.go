package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/testenv"
	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// harness is the control plane, the sink and what the phases share.
type harness struct {
	env        *envtest.Environment
	cfg        *rest.Config
	client     client.Client // the load generator's: no cache, high QPS
	kubeconfig string
	out        string
	sink       *sink
	apiserver  int // pids
	etcd       int
	opts       options
}

// startHarness starts kube-apiserver and etcd (testenv: Klaxon's CRDs, etcd with
// --unsafe-no-fsync), the sink, and writes a kubeconfig for the controller children.
func startHarness(opts options) (*harness, error) {
	h := &harness{env: testenv.New(), out: opts.out, opts: opts}
	cfg, err := testenv.Start(h.env)
	if err != nil {
		return nil, err
	}
	h.cfg = cfg
	h.apiserver = measure.FindPID("kube-apiserver", "--cert-dir="+h.env.ControlPlane.APIServer.CertDir)
	h.etcd = measure.FindPID("etcd", "--data-dir="+h.env.ControlPlane.Etcd.DataDir)

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return h, err
	}
	if err := klaxonv1.AddToScheme(scheme); err != nil {
		return h, err
	}
	gen := rest.CopyConfig(cfg)
	gen.QPS, gen.Burst = float32(opts.createQPS), opts.createQPS
	if h.client, err = client.New(gen, client.Options{Scheme: scheme}); err != nil {
		return h, err
	}
	h.kubeconfig = filepath.Join(h.out, "kubeconfig")
	if err := testenv.WriteKubeconfig(cfg, h.kubeconfig); err != nil {
		return h, err
	}
	if err := h.client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: klaxonv1.DefaultSystemNamespace}}); err != nil {
		return h, err
	}
	if h.sink, err = newSink(); err != nil {
		return h, err
	}
	return h, nil
}

func (h *harness) stop() {
	if h.sink != nil {
		_ = h.sink.srv.Close()
	}
	_ = h.env.Stop()
}

// apiserverProfile fetches a CPU profile of kube-apiserver over d into file, in the
// background.
func (h *harness) apiserverProfile(d time.Duration, file string) <-chan struct{} {
	return measure.APIServerProfile(h.cfg, d, file)
}

// cpuSnap is the CPU time each process of the run had used at one moment.
type cpuSnap struct {
	at                                                   time.Time
	machine, steal, harness, controller, apiserver, etcd time.Duration
}

func (h *harness) snap(c *controllerProc) cpuSnap {
	s := cpuSnap{at: time.Now(), machine: measure.MachineBusy(), steal: measure.MachineSteal()}
	get := func(pid int) time.Duration {
		if pid == 0 {
			return 0
		}
		p, _ := measure.ReadProc(pid)
		return p.CPU
	}
	s.harness = get(os.Getpid())
	s.apiserver, s.etcd = get(h.apiserver), get(h.etcd)
	if c != nil {
		s.controller = get(c.Pid())
	}
	return s
}

// cpuUse is the CPU each process used over a phase, and what the rest of the machine
// (other users of the shared cores) used.
type cpuUse struct {
	wall                                                  time.Duration
	controller, apiserver, etcd, harness, others, machine time.Duration
	steal                                                 time.Duration // the host's, given to other machines
}

func (b cpuSnap) since(a cpuSnap) cpuUse {
	u := cpuUse{wall: b.at.Sub(a.at), controller: b.controller - a.controller, apiserver: b.apiserver - a.apiserver,
		etcd: b.etcd - a.etcd, harness: b.harness - a.harness, machine: b.machine - a.machine, steal: b.steal - a.steal}
	u.others = max(u.machine-u.controller-u.apiserver-u.etcd-u.harness, 0)
	return u
}

// waitReady waits until every object is Ready=True.
func (h *harness) waitReady(ctx context.Context, objs ...client.Object) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for _, o := range objs {
		for {
			err := h.client.Get(ctx, client.ObjectKeyFromObject(o), o)
			if err == nil {
				if c, ok := o.(interface{ GetConditions() []metav1.Condition }); ok {
					if meta.IsStatusConditionTrue(c.GetConditions(), klaxonv1.ConditionReady) {
						break
					}
				}
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%T %s/%s not Ready: %w", o, o.GetNamespace(), o.GetName(), ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

// tenant is a namespace with a webhook channel to the sink, responders reached
// through it, and escalation policies.
type tenant struct {
	namespace  string
	responders []string
	policies   []*klaxonv1.EscalationPolicy
}

// policySpec is an escalation policy to create: level i pages responders[i] delays[i]
// after level i-1 (after the trigger, for the first).
type policySpec struct {
	name   string
	delays []time.Duration
}

// createTenant creates a tenant with its responders and policies, and waits until
// they are Ready.
func (h *harness) createTenant(ctx context.Context, ns string, responders []string, policies []policySpec) (*tenant, error) {
	t := &tenant{namespace: ns, responders: responders}
	if err := h.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return nil, err
	}
	nc := &klaxonv1.NotificationChannel{ObjectMeta: metav1.ObjectMeta{Name: "pager", Namespace: ns},
		Spec: klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelWebhook, Webhook: &klaxonv1.WebhookChannel{URL: h.sink.url}}}
	if err := h.client.Create(ctx, nc); err != nil {
		return nil, err
	}
	ready := []client.Object{nc}
	for _, r := range responders {
		rsp := &klaxonv1.Responder{ObjectMeta: metav1.ObjectMeta{Name: r, Namespace: ns},
			Spec: klaxonv1.ResponderSpec{DisplayName: r, ContactMethods: []klaxonv1.ContactMethod{
				{ChannelRef: klaxonv1.ObjectReference{Name: "pager"}, Address: r}}}}
		if err := h.client.Create(ctx, rsp); err != nil {
			return nil, err
		}
		ready = append(ready, rsp)
	}
	for _, p := range policies {
		ep := &klaxonv1.EscalationPolicy{ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: ns}}
		for i, d := range p.delays {
			ep.Spec.Levels = append(ep.Spec.Levels, klaxonv1.EscalationLevel{Delay: metav1.Duration{Duration: d},
				Targets: []klaxonv1.EscalationTarget{{Kind: klaxonv1.TargetResponder, Name: responders[i]}}})
		}
		if err := h.client.Create(ctx, ep); err != nil {
			return nil, err
		}
		t.policies = append(t.policies, ep)
		ready = append(ready, ep)
	}
	return t, h.waitReady(ctx, ready...)
}

// newIncident is an incident of tenant ns following policy, as a person or intake
// opens one.
func newIncident(ns, name, policy string, labels map[string]string) *klaxonv1.Incident {
	return &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: klaxonv1.IncidentSpec{Title: "checkout returns 500s for " + name, Severity: klaxonv1.SEV2,
			Service: "checkout", EscalationPolicyRef: &klaxonv1.ObjectReference{Name: policy}}}
}

// cpuTimeline samples the CPU of every process of the run each second, so that a
// stall in the pages can be set against what the rest of the shared machine did
// at that moment.
type cpuTimeline struct {
	stop    chan struct{}
	done    chan struct{}
	samples []timedUse
}

// timedUse is the CPU used in the second that ended at at.
type timedUse struct {
	at time.Time
	cpuUse
}

func (h *harness) startTimeline(c *controllerProc) *cpuTimeline {
	t := &cpuTimeline{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(t.done)
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		prev := h.snap(c)
		for {
			select {
			case <-t.stop:
				return
			case <-tick.C:
				s := h.snap(c)
				t.samples = append(t.samples, timedUse{at: s.at, cpuUse: s.since(prev)})
				prev = s
			}
		}
	}()
	return t
}

// finish stops sampling and returns the samples.
func (t *cpuTimeline) finish() []timedUse {
	close(t.stop)
	<-t.done
	return t.samples
}

// writeTimeline writes samples as CSV, CPU in percent of one core.
func writeTimeline(file string, samples []timedUse) error {
	f, err := os.Create(file)
	if err != nil {
		return fmt.Errorf("writing the CPU timeline: %w", err)
	}
	defer f.Close()
	fmt.Fprintln(f, "time,controller,apiserver,etcd,harness,others,steal")
	for _, s := range samples {
		pct := func(d time.Duration) float64 { return 100 * float64(d) / float64(s.wall) }
		fmt.Fprintf(f, "%s,%.0f,%.0f,%.0f,%.0f,%.0f,%.0f\n", s.at.Format(time.RFC3339Nano), pct(s.controller), pct(s.apiserver),
			pct(s.etcd), pct(s.harness), pct(s.others), pct(s.steal))
	}
	return nil
}

// busySeconds counts the samples in which the rest of the machine used more than
// one core: seconds in which the run had less than the other core to itself.
func busySeconds(samples []timedUse) int {
	n := 0
	for _, s := range samples {
		if s.wall > 0 && s.others > s.wall {
			n++
		}
	}
	return n
}
