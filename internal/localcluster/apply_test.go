package localcluster

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestApply(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := startCluster(t, testOptions(t))
	cl := newClient(t, c)

	// The namespace comes last in file order; Apply must create it first.
	dir := writeFiles(t, map[string]string{
		"a-objects.yaml": `# settings and an incident for tenant-b
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  namespace: tenant-b
data:
  escalate: "true"
---
apiVersion: klaxon.dev/v1alpha1
kind: Incident
metadata:
  name: db-down
  namespace: tenant-b
spec:
  title: Database down
`,
		"b-namespace.yaml":   "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: tenant-b\n",
		"kustomization.yaml": "resources:\n- a-objects.yaml\n- b-namespace.yaml\n",
		"README.md":          "not a manifest",
	})
	want := []string{"Namespace tenant-b", "ConfigMap tenant-b/settings", "Incident tenant-b/db-down"}

	applied, err := Apply(ctx, c.Config(), dir)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	if !slices.Equal(applied, want) {
		t.Errorf("Apply = %q, want %q", applied, want)
	}
	cm := &corev1.ConfigMap{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: "tenant-b", Name: "settings"}, cm); err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(c.Config())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dyn.Resource(incidentGVR).Namespace("tenant-b").Get(ctx, "db-down", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}

	// Applying the same files again changes nothing.
	applied, err = Apply(ctx, c.Config(), dir)
	if err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if !slices.Equal(applied, want) {
		t.Errorf("second Apply = %q, want %q", applied, want)
	}
	again := &corev1.ConfigMap{}
	if err := cl.Get(ctx, client.ObjectKeyFromObject(cm), again); err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != cm.ResourceVersion {
		t.Errorf("second Apply updated the ConfigMap: resourceVersion %s -> %s", cm.ResourceVersion, again.ResourceVersion)
	}

	// A malformed file is reported by name, and nothing is applied.
	for name, content := range map[string]string{
		"c-broken.yaml":  "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n",
		"c-no-kind.yaml": "apiVersion: v1\nmetadata:\n  name: x\n",
		"c-no-name.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: x-\n",
	} {
		dir := writeFiles(t, map[string]string{
			"a-good.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: not-applied\n",
			name:          content,
		})
		_, err := Apply(ctx, c.Config(), dir)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Apply with %s: %v, want an error naming the file", name, err)
		}
	}
	err = cl.Get(ctx, client.ObjectKey{Namespace: "default", Name: "not-applied"}, &corev1.ConfigMap{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("a file next to a malformed one was applied: %v", err)
	}
}
