package receiver

import (
	"context"
	"sync"

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/maintenance"
)

// maxCompiled bounds the memo of compiled windows; past it the memo starts over,
// which costs a recompile of the windows still in use.
const maxCompiled = 10000

// windows finds the MaintenanceWindows that apply to a tenant's alerts: the tenant's
// own and the provider's, read from the manager's cache (so every replica has them)
// and compiled once per generation. Each window is named "namespace/name", which is
// how maintenance.Apply reports it. A provider window's spec.selector.alertSources
// names sources of that name in any tenant.
type windows struct {
	c               client.Reader
	systemNamespace string

	mu       sync.Mutex
	compiled map[types.UID]compiledWindow
}

type compiledWindow struct {
	generation int64
	window     *maintenance.Window // nil when the spec does not compile
}

func newWindows(c client.Reader, systemNamespace string) *windows {
	return &windows{c: c, systemNamespace: systemNamespace, compiled: map[types.UID]compiledWindow{}}
}

// forNamespace returns the compiled windows that apply to alerts of a namespace.
// Windows whose spec does not compile are left out: their controller reports them
// Stalled.
func (w *windows) forNamespace(ctx context.Context, namespace string) ([]*maintenance.Window, error) {
	var out []*maintenance.Window
	for _, ns := range w.namespaces(namespace) {
		var list klaxonv1.MaintenanceWindowList
		if err := w.c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			return nil, err
		}
		for i := range list.Items {
			if cw := w.compile(&list.Items[i]); cw != nil {
				out = append(out, cw)
			}
		}
	}
	return out, nil
}

func (w *windows) namespaces(namespace string) []string {
	if w.systemNamespace == "" || namespace == w.systemNamespace {
		return []string{namespace}
	}
	return []string{namespace, w.systemNamespace}
}

func (w *windows) compile(mw *klaxonv1.MaintenanceWindow) *maintenance.Window {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cw, ok := w.compiled[mw.UID]; ok && cw.generation == mw.Generation {
		return cw.window
	}
	if len(w.compiled) >= maxCompiled {
		w.compiled = map[types.UID]compiledWindow{}
	}
	win, err := maintenance.Compile(mw.Spec)
	if err != nil {
		win = nil
	} else {
		win.Name = mw.Namespace + "/" + mw.Name
	}
	w.compiled[mw.UID] = compiledWindow{generation: mw.Generation, window: win}
	return win
}

// NewMuter returns the notification pipeline's maintenance stage, reading windows
// and incidents from c (the manager's cache): see maintenance.Muter.
func NewMuter(c client.Reader, systemNamespace string) *maintenance.Muter {
	w := newWindows(c, systemNamespace)
	return &maintenance.Muter{
		Windows: func(namespace string) []*maintenance.Window {
			// A cache read does not block on the network; without a deadline of its
			// own the mute stage needs no context.
			out, err := w.forNamespace(context.Background(), namespace)
			if err != nil {
				return nil
			}
			return out
		},
		Incident: func(namespace, name string) (*klaxonv1.Incident, bool) {
			var inc klaxonv1.Incident
			if err := c.Get(context.Background(), types.NamespacedName{Namespace: namespace, Name: name}, &inc); err != nil {
				return nil, false
			}
			return &inc, true
		},
	}
}
