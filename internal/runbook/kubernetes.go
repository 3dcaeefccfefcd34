package runbook

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// FieldManager is the field manager of the changes kubernetes actions make.
const FieldManager = "klaxon-runbook"

// ServiceAccountUser is the user name the API server gives a ServiceAccount.
func ServiceAccountUser(namespace, name string) string {
	return "system:serviceaccount:" + namespace + ":" + name
}

// KubernetesExecutor scales, patches, labels or annotates one named object in the
// incident's namespace. Every request impersonates the ServiceAccount the Runbook
// names, in the incident's namespace, so the API server authorizes it with that
// account's rights: the controller lends only its ability to impersonate, never its
// own rights, and a tenant's runbook can do no more than the tenant granted that
// account. Cluster-scoped objects are refused before any request.
type KubernetesExecutor struct {
	// Config is the controller's connection to the API server. Requests use its
	// address and credentials to authenticate, plus impersonation.
	Config *rest.Config
	// Mapper finds the resource of an apiVersion and kind (discovery, not an action).
	Mapper meta.RESTMapper
}

// Execute implements Executor.
func (x KubernetesExecutor) Execute(ctx context.Context, a Action) Outcome {
	spec := a.Spec().Kubernetes
	ns := a.Incident.Namespace
	sa := a.Runbook.Spec.ServiceAccountName
	by := Actor
	if sa != "" {
		by = ServiceAccountUser(ns, sa)
	}
	if spec == nil {
		return failed(by, "kubernetes action without kubernetes settings")
	}
	what := describeK8s(spec)
	if sa == "" {
		return failed(by, what+": the runbook names no serviceAccountName to act as")
	}
	gv, err := schema.ParseGroupVersion(spec.APIVersion)
	if err != nil {
		return failed(by, what+": "+err.Error())
	}
	mapping, err := x.Mapper.RESTMapping(gv.WithKind(spec.Kind).GroupKind(), gv.Version)
	if err != nil {
		return failed(by, what+": "+err.Error())
	}
	if mapping.Scope.Name() != meta.RESTScopeNameNamespace {
		return failed(by, fmt.Sprintf("%s: forbidden: %s is cluster-scoped, and runbook actions act only on objects in the incident's namespace %s", what, spec.Kind, ns))
	}
	patch, sub, err := patchFor(spec)
	if err != nil {
		return failed(by, what+": "+err.Error())
	}
	dyn, err := x.clientAs(ns, sa)
	if err != nil {
		return failed(by, what+": "+err.Error())
	}
	opts := metav1.PatchOptions{FieldManager: FieldManager}
	if a.DryRun {
		opts.DryRun = []string{metav1.DryRunAll}
	}
	var subresources []string
	if sub != "" {
		subresources = []string{sub}
	}
	if _, err := dyn.Resource(mapping.Resource).Namespace(ns).Patch(ctx, spec.Name, types.MergePatchType, patch, opts, subresources...); err != nil {
		return failed(by, what+": "+err.Error())
	}
	if a.DryRun {
		return succeeded(by, "the API server accepted: "+what, true)
	}
	return succeeded(by, what, false)
}

// clientAs returns a client that impersonates the ServiceAccount ns/name. The base
// config's own impersonation, if any, is replaced, never combined.
func (x KubernetesExecutor) clientAs(ns, name string) (dynamic.Interface, error) {
	cfg := rest.CopyConfig(x.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: ServiceAccountUser(ns, name)}
	// client-go shares the TLS transport between configs with the same TLS
	// settings, so a client per action does not mean a connection per action.
	c, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("building a client as %s: %w", cfg.Impersonate.UserName, err)
	}
	return c, nil
}

// patchFor is the JSON merge patch of an action and the subresource it goes to.
func patchFor(spec *klaxonv1.KubernetesAction) ([]byte, string, error) {
	switch spec.Operation {
	case klaxonv1.OperationScale:
		if spec.Replicas == nil {
			return nil, "", fmt.Errorf("scale needs replicas")
		}
		// The scale subresource: RBAC grants it apart from the object itself.
		b, err := json.Marshal(map[string]any{"spec": map[string]any{"replicas": *spec.Replicas}})
		return b, "scale", err
	case klaxonv1.OperationPatch:
		var v map[string]any
		if err := json.Unmarshal([]byte(spec.Patch), &v); err != nil {
			return nil, "", fmt.Errorf("patch is not a JSON object: %w", err)
		}
		return []byte(spec.Patch), "", nil
	case klaxonv1.OperationLabel:
		b, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": nullEmpty(spec.Labels)}})
		return b, "", err
	case klaxonv1.OperationAnnotate:
		b, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": nullEmpty(spec.Annotations)}})
		return b, "", err
	}
	return nil, "", fmt.Errorf("unknown operation %q", spec.Operation)
}

// CheckPatch reports what keeps an action's patch from being built, for admission.
func CheckPatch(spec *klaxonv1.KubernetesAction) error { _, _, err := patchFor(spec); return err }

// nullEmpty turns empty values into JSON nulls, which a merge patch reads as
// "remove the key".
func nullEmpty(m map[string]string) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if v == "" {
			out[k] = nil
		} else {
			out[k] = v
		}
	}
	return out
}

// describeK8s says what an action does, for the timeline: "scale apps/v1 Deployment
// web to 0 replicas".
func describeK8s(spec *klaxonv1.KubernetesAction) string {
	if spec == nil {
		return "kubernetes action"
	}
	obj := spec.APIVersion + " " + spec.Kind + " " + spec.Name
	switch spec.Operation {
	case klaxonv1.OperationScale:
		if spec.Replicas != nil {
			return fmt.Sprintf("scale %s to %d replicas", obj, *spec.Replicas)
		}
	case klaxonv1.OperationLabel:
		return fmt.Sprintf("label %s %s", obj, pairs(spec.Labels))
	case klaxonv1.OperationAnnotate:
		return fmt.Sprintf("annotate %s %s", obj, pairs(spec.Annotations))
	}
	return string(spec.Operation) + " " + obj
}

func pairs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		if m[k] == "" {
			out = append(out, k+"-")
		} else {
			out = append(out, k+"="+m[k])
		}
	}
	return strings.Join(out, " ")
}
