package v1alpha1_test

import (
	"context"
	"strings"
	"testing"
)

// TestRunbookValidation checks the Runbook schema's cross-field rules against the real
// API server: each bad manifest is refused with a message that says what to fix.
func TestRunbookValidation(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		// wantErr is a part of the API server's message; empty means accepted.
		wantErr string
	}{
		{"runbook ok", `
kind: Runbook
metadata: {name: rb-ok}
spec:
  selector: {services: [checkout], severities: [SEV1, SEV2]}
  serviceAccountName: klaxon-actions
  steps:
  - {name: look, stage: Triage, guidance: "Check the dashboards."}
  - name: shrink
    stage: Contain
    automatic: true
    action: {type: kubernetes, kubernetes: {operation: scale, apiVersion: apps/v1, kind: Deployment, name: web, replicas: 0}}
  - name: hook
    stage: Contain
    automatic: true
    action: {type: webhook, webhook: {url: "https://automation.example/isolate"}}`, ""},
		{"kubernetes actions need a service account", `
kind: Runbook
metadata: {name: rb-no-sa}
spec:
  steps:
  - name: shrink
    stage: Contain
    action: {type: kubernetes, kubernetes: {operation: scale, apiVersion: apps/v1, kind: Deployment, name: web, replicas: 0}}`,
			"kubernetes actions need serviceAccountName"},
		{"scale needs replicas", `
kind: Runbook
metadata: {name: rb-no-replicas}
spec:
  serviceAccountName: sa
  steps:
  - name: shrink
    stage: Contain
    action: {type: kubernetes, kubernetes: {operation: scale, apiVersion: apps/v1, kind: Deployment, name: web}}`,
			"scale needs replicas"},
		{"patch needs a patch", `
kind: Runbook
metadata: {name: rb-no-patch}
spec:
  serviceAccountName: sa
  steps:
  - name: p
    stage: Contain
    action: {type: kubernetes, kubernetes: {operation: patch, apiVersion: apps/v1, kind: Deployment, name: web}}`,
			"patch needs patch"},
		{"label needs labels", `
kind: Runbook
metadata: {name: rb-no-labels}
spec:
  serviceAccountName: sa
  steps:
  - name: l
    stage: Contain
    action: {type: kubernetes, kubernetes: {operation: label, apiVersion: v1, kind: Pod, name: web-0}}`,
			"label needs labels"},
		{"automatic steps need an action", `
kind: Runbook
metadata: {name: rb-auto}
spec:
  steps:
  - {name: look, stage: Triage, automatic: true}`, "an automatic step needs an action"},
		{"webhook needs a url or a secret", `
kind: Runbook
metadata: {name: rb-hook}
spec:
  steps:
  - {name: hook, stage: Contain, action: {type: webhook, webhook: {}}}`, "a webhook action needs url or a secretRef"},
		{"webhook url is http(s)", `
kind: Runbook
metadata: {name: rb-hook-scheme}
spec:
  steps:
  - {name: hook, stage: Contain, action: {type: webhook, webhook: {url: "file:///etc/passwd"}}}`, "spec.steps[0].action.webhook.url"},
		{"step names are unique", `
kind: Runbook
metadata: {name: rb-dup}
spec:
  steps:
  - {name: look, stage: Triage}
  - {name: look, stage: Contain}`, "step names must be unique"},
		{"checklist tick names a step", `
kind: Incident
metadata: {name: tick}
spec:
  title: t
  checklist:
  - {runbook: rb-ok, step: ""}`, "spec.checklist[0].step"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Create(context.Background(), decode(t, tc.manifest))
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
