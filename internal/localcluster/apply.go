package localcluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/yaml"
)

// FieldManager owns the fields Apply and Start set, in server-side apply terms.
const FieldManager = "klaxon-local"

// crdWaitTimeout bounds the wait for new CRDs to be served when the caller's context
// has no deadline of its own.
const crdWaitTimeout = 30 * time.Second

var crdGVR = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// Apply creates or updates every object in the YAML or JSON files of dir with
// server-side apply, as field manager "klaxon-local", so running it again is a no-op
// and a field someone changed since is set back (conflicts are forced, like
// `kubectl apply --server-side --force-conflicts`): `make run` applies the samples on
// every start.
//
// Files are read in name order and may hold several documents and v1 Lists;
// subdirectories, hidden files and kustomization.yaml are skipped. Namespaces are
// applied first and CustomResourceDefinitions next (Apply waits until they are
// served), whatever the file order, so objects can go in any file. A namespaced
// object without a namespace goes to "default". Every file is parsed before anything
// is applied, so a malformed file changes nothing; errors name the file.
//
// It returns what it applied, in order, as "Kind namespace/name" ("Kind name" for
// cluster-scoped objects).
func Apply(ctx context.Context, cfg *rest.Config, dir string) ([]string, error) {
	objs, err := readManifestDir(dir)
	if err != nil {
		return nil, err
	}
	a, err := newApplier(cfg)
	if err != nil {
		return nil, err
	}
	return a.apply(ctx, objs)
}

// manifest is one object read from a file, with where it came from for errors.
type manifest struct {
	source string // file, and document number when the file holds several
	obj    *unstructured.Unstructured
}

// readManifestDir reads the manifests of dir in file name order.
func readManifestDir(dir string) ([]manifest, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read manifests: %w", err)
	}
	var all []manifest
	for _, e := range entries { // os.ReadDir sorts by name
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasPrefix(name, ".") || isKustomization(name) {
			continue
		}
		switch strings.ToLower(filepath.Ext(name)) {
		case ".yaml", ".yml", ".json":
		default:
			continue
		}
		ms, err := readManifestFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		all = append(all, ms...)
	}
	return all, nil
}

// isKustomization reports whether name is a kustomize file: it sits next to the
// manifests in config/ directories but is not an object for the API server.
func isKustomization(name string) bool {
	switch name {
	case "kustomization.yaml", "kustomization.yml", "Kustomization":
		return true
	}
	return false
}

// readManifestFile reads every object of a multi-document YAML (or JSON) file.
func readManifestFile(path string) ([]manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read manifests: %w", err)
	}
	defer f.Close()

	var docs [][]byte
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		docs = append(docs, doc)
	}

	var out []manifest
	for i, doc := range docs {
		source := path
		if len(docs) > 1 {
			source = fmt.Sprintf("%s (document %d)", path, i+1)
		}
		data, err := yaml.YAMLToJSON(doc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
			continue // empty document: only comments or a stray separator
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("%s: not a Kubernetes object: %w", source, err)
		}
		obj := &unstructured.Unstructured{Object: m}
		if obj.IsList() {
			list, err := obj.ToList()
			if err != nil {
				return nil, fmt.Errorf("%s: %w", source, err)
			}
			for j := range list.Items {
				item := manifest{source: fmt.Sprintf("%s item %d", source, j+1), obj: &list.Items[j]}
				if err := item.validate(); err != nil {
					return nil, err
				}
				out = append(out, item)
			}
			continue
		}
		item := manifest{source: source, obj: obj}
		if err := item.validate(); err != nil {
			return nil, err
		}
		out = append(out, item)
	}
	return out, nil
}

// validate checks what server-side apply needs before anything is sent.
func (m manifest) validate() error {
	switch {
	case m.obj.GetAPIVersion() == "" || m.obj.GetKind() == "":
		return fmt.Errorf("%s: apiVersion and kind are required", m.source)
	case m.obj.GetName() == "":
		return fmt.Errorf("%s: %s has no metadata.name (server-side apply cannot use generateName)", m.source, m.obj.GetKind())
	}
	return nil
}

// applyPhase orders kinds: a namespace before what goes in it, a CRD before its
// objects.
func applyPhase(m manifest) int {
	switch m.obj.GroupVersionKind().GroupKind() {
	case schema.GroupKind{Kind: "Namespace"}:
		return 0
	case schema.GroupKind{Group: "apiextensions.k8s.io", Kind: "CustomResourceDefinition"}:
		return 1
	}
	return 2
}

// applier applies manifests with a dynamic client.
type applier struct {
	client    dynamic.Interface
	discovery discovery.DiscoveryInterface
	mapper    meta.RESTMapper
}

func newApplier(cfg *rest.Config) (*applier, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	dyn, err := dynamic.NewForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	disc, err := discovery.NewDiscoveryClientForConfigAndClient(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("create client: %w", err)
	}
	// The mapper discovers a group when it first meets one of its kinds, so kinds of
	// CRDs applied by this applier are found after waitForCRDs.
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		return nil, fmt.Errorf("create REST mapper: %w", err)
	}
	return &applier{client: dyn, discovery: disc, mapper: mapper}, nil
}

// apply applies objs phase by phase (see applyPhase), waiting for CRDs to be served
// before their objects go in.
func (a *applier) apply(ctx context.Context, objs []manifest) ([]string, error) {
	slices.SortStableFunc(objs, func(x, y manifest) int { return applyPhase(x) - applyPhase(y) })

	var applied, pending []string // pending: CRDs applied but not yet waited for
	for _, m := range objs {
		if applyPhase(m) == 2 && len(pending) > 0 {
			if err := a.waitForCRDs(ctx, pending); err != nil {
				return applied, err
			}
			pending = nil
		}
		ref, err := a.applyOne(ctx, m)
		if err != nil {
			return applied, err
		}
		applied = append(applied, ref)
		if applyPhase(m) == 1 {
			pending = append(pending, m.obj.GetName())
		}
	}
	if len(pending) > 0 {
		if err := a.waitForCRDs(ctx, pending); err != nil {
			return applied, err
		}
	}
	return applied, nil
}

// applyOne server-side applies one object and returns its "Kind namespace/name".
func (a *applier) applyOne(ctx context.Context, m manifest) (string, error) {
	obj := m.obj.DeepCopy()
	gvk := obj.GroupVersionKind()
	mapping, err := a.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return "", fmt.Errorf("%s: %s %s: %w", m.source, gvk.Kind, obj.GetName(), err)
	}
	var res dynamic.ResourceInterface = a.client.Resource(mapping.Resource)
	ref := gvk.Kind + " " + obj.GetName()
	if mapping.Scope.Name() == meta.RESTScopeNameNamespace {
		if obj.GetNamespace() == "" {
			obj.SetNamespace(metav1.NamespaceDefault)
		}
		res = a.client.Resource(mapping.Resource).Namespace(obj.GetNamespace())
		ref = gvk.Kind + " " + obj.GetNamespace() + "/" + obj.GetName()
	} else {
		obj.SetNamespace("")
	}
	// Server-side apply rejects these; a manifest copied from `kubectl get -o yaml`
	// carries them.
	obj.SetResourceVersion("")
	obj.SetManagedFields(nil)
	unstructured.RemoveNestedField(obj.Object, "metadata", "creationTimestamp")

	if _, err := res.Apply(ctx, obj.GetName(), obj, metav1.ApplyOptions{FieldManager: FieldManager, Force: true}); err != nil {
		return "", fmt.Errorf("%s: apply %s: %w", m.source, ref, err)
	}
	return ref, nil
}

// waitForCRDs waits until the named CRDs are established and their served versions
// appear in discovery, which is when clients (and the controller's cache) can use
// them.
func (a *applier) waitForCRDs(ctx context.Context, names []string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, crdWaitTimeout)
		defer cancel()
	}
	for _, name := range names {
		var last error
		for {
			if last = a.crdServed(ctx, name); last == nil {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("CustomResourceDefinition %s not served: %w (%v)", name, context.Cause(ctx), last)
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	return nil
}

// crdServed returns nil once the CRD is established and in discovery, and otherwise
// what it is still waiting for.
func (a *applier) crdServed(ctx context.Context, name string) error {
	crd, err := a.client.Resource(crdGVR).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
	established := false
	for _, c := range conditions {
		c, _ := c.(map[string]any)
		if c["type"] == "Established" && c["status"] == "True" {
			established = true
		}
	}
	if !established {
		return errors.New("not established yet")
	}
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	for _, v := range versions {
		v, _ := v.(map[string]any)
		if served, _ := v["served"].(bool); !served {
			continue
		}
		gv := group + "/" + fmt.Sprint(v["name"])
		list, err := a.discovery.ServerResourcesForGroupVersion(gv)
		if err != nil {
			return fmt.Errorf("discovery of %s: %w", gv, err)
		}
		if !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == plural }) {
			return fmt.Errorf("%s not in discovery of %s yet", plural, gv)
		}
	}
	return nil
}
