package v1alpha1_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/testenv"
)

// These tests send manifests to a real kube-apiserver with the generated CRDs and
// check that bad ones are refused with a message a person understands.

var c client.Client

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	env := testenv.New()
	cfg, err := testenv.Start(env)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	_ = klaxonv1.AddToScheme(scheme)
	if c, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		panic(err)
	}
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "acme"}}); err != nil {
		panic(err)
	}
	return m.Run()
}

func TestValidation(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		// wantErr is a part of the API server's message; empty means accepted.
		wantErr string
	}{
		{"incident ok", `
kind: Incident
metadata: {name: ok}
spec: {title: checkout slow, severity: SEV2, stage: Contain}`, ""},
		{"incident needs a title", `
kind: Incident
metadata: {name: no-title}
spec: {severity: SEV2}`, `spec.title: Required value`},
		{"severity is SEV1..SEV5", `
kind: Incident
metadata: {name: sev0}
spec: {title: t, severity: SEV0}`, `spec.severity: Unsupported value: "SEV0"`},
		{"stage is a response stage", `
kind: Incident
metadata: {name: stage}
spec: {title: t, stage: Panic}`, `spec.stage: Unsupported value: "Panic"`},
		{"acknowledged needs acknowledgedBy", `
kind: Incident
metadata: {name: ack}
spec: {title: t, state: Acknowledged}`, "acknowledgedBy must name who acknowledged the incident when state is Acknowledged"},
		{"acknowledged with acknowledgedBy", `
kind: Incident
metadata: {name: ack-ok}
spec: {title: t, state: Acknowledged, acknowledgedBy: alice}`, ""},
		{"category is a slug", `
kind: Incident
metadata: {name: cat}
spec: {title: t, category: "Data Breach"}`, "spec.category"},
		{"escalation policy needs a level", `
kind: EscalationPolicy
metadata: {name: empty}
spec: {levels: []}`, "spec.levels: Invalid value: 0: spec.levels in body should have at least 1 items"},
		{"every level needs a target", `
kind: EscalationPolicy
metadata: {name: no-target}
spec:
  levels:
  - delay: 5m
    targets: []`, "spec.levels[0].targets in body should have at least 1 items"},
		{"delay is a duration", `
kind: EscalationPolicy
metadata: {name: bad-delay}
spec:
  levels:
  - delay: five minutes
    targets: [{kind: Responder, name: alice}]`, "spec.levels[0].delay"},
		{"target kind is known", `
kind: EscalationPolicy
metadata: {name: bad-kind}
spec:
  levels:
  - targets: [{kind: Team, name: sre}]`, `Unsupported value: "Team"`},
		{"escalation policy ok", `
kind: EscalationPolicy
metadata: {name: ok}
spec:
  repeat: 2
  levels:
  - targets: [{kind: OnCallSchedule, name: primary}]
  - delay: 15m
    targets: [{kind: Responder, name: dave}, {kind: StakeholderGroup, name: mgmt, namespace: klaxon-system}]`, ""},
		{"override ends after it starts", `
kind: OnCallSchedule
metadata: {name: backwards}
spec:
  layers: [{name: l, start: "2026-01-05", responders: [{name: alice}]}]
  overrides:
  - responder: {name: bob}
    start: "2026-02-01T10:00:00Z"
    end: "2026-02-01T09:00:00Z"`, "an override's end must be after its start"},
		{"handoff time is HH:MM", `
kind: OnCallSchedule
metadata: {name: bad-time}
spec:
  layers: [{name: l, start: "2026-01-05", handoffTime: "9am", responders: [{name: alice}]}]`, "spec.layers[0].handoffTime"},
		{"layer names are unique", `
kind: OnCallSchedule
metadata: {name: dup}
spec:
  layers:
  - {name: l, start: "2026-01-05", responders: [{name: alice}]}
  - {name: l, start: "2026-01-05", responders: [{name: bob}]}`, "layer names must be unique"},
		{"schedule ok", `
kind: OnCallSchedule
metadata: {name: ok}
spec:
  timeZone: Europe/Berlin
  layers:
  - name: business-hours
    start: "2026-01-05"
    rotationLength: 24h
    responders: [{name: alice}, {name: bob}]
    restrictions: [{daysOfWeek: [Monday, Friday], startTime: "09:00", endTime: "17:00"}]
  overrides:
  - responder: {name: carol}
    start: "2026-02-01T09:00:00Z"
    end: "2026-02-01T17:00:00Z"`, ""},
		{"responder needs a contact method", `
kind: Responder
metadata: {name: alice}
spec: {displayName: Alice, contactMethods: []}`, "spec.contactMethods in body should have at least 1 items"},
		{"stakeholder group needs someone", `
kind: StakeholderGroup
metadata: {name: nobody}
spec: {audience: customers}`, "a stakeholder group needs at least one member or channel"},
		{"audience is known", `
kind: StakeholderGroup
metadata: {name: aliens}
spec: {audience: aliens, members: [{name: x}]}`, `Unsupported value: "aliens"`},
		{"notifyOn events are known", `
kind: StakeholderGroup
metadata: {name: events}
spec: {audience: customers, members: [{name: x}], notifyOn: [Exploded]}`, `Unsupported value: "Exploded"`},
		{"email channel needs its server", `
kind: NotificationChannel
metadata: {name: mail}
spec: {type: email}`, "an email channel needs spec.email (host and from)"},
		{"webhook channel needs a URL", `
kind: NotificationChannel
metadata: {name: hook}
spec: {type: webhook}`, "a webhook channel needs spec.webhook.url or a secretRef"},
		{"slack needs a secret", `
kind: NotificationChannel
metadata: {name: slack}
spec: {type: slack}`, "slack, msteams and pagerduty channels need a secretRef"},
		{"channel type is known", `
kind: NotificationChannel
metadata: {name: pigeon}
spec: {type: pigeon}`, `Unsupported value: "pigeon"`},
		{"slack channel ok", `
kind: NotificationChannel
metadata: {name: slack-ok}
spec: {type: slack, secretRef: {name: slack}, slack: {mode: API, channel: C123}}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj := decode(t, tc.manifest)
			err := c.Create(context.Background(), obj)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("rejected: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Fatalf("accepted, want an error containing %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Fatalf("error %q\n does not contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestDefaults(t *testing.T) {
	u := decode(t, `
kind: Incident
metadata: {name: defaults}
spec: {title: t}`)
	if err := c.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	inc := &klaxonv1.Incident{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, inc); err != nil {
		t.Fatal(err)
	}
	if inc.Spec.State != klaxonv1.StateTriggered || inc.Spec.Stage != klaxonv1.StageTriage {
		t.Errorf("defaults: state %q stage %q, want Triggered and Triage", inc.Spec.State, inc.Spec.Stage)
	}
	u = decode(t, `
kind: StakeholderGroup
metadata: {name: defaults}
spec: {audience: customers, members: [{name: x}]}`)
	if err := c.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	got, _, _ := unstructured.NestedStringSlice(u.Object, "spec", "notifyOn")
	if fmt.Sprint(got) != "[Triggered Resolved]" {
		t.Errorf("notifyOn default %v", got)
	}
}

// decode turns a test manifest into an object in namespace acme, sent as written (as
// kubectl would), so the API server's own validation is what the test sees.
func decode(t *testing.T, manifest string) *unstructured.Unstructured {
	t.Helper()
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(manifest), &obj.Object); err != nil {
		t.Fatal(err)
	}
	obj.SetAPIVersion(klaxonv1.GroupVersion.String())
	obj.SetNamespace("acme")
	return obj
}
