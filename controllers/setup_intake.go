package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/intake/receiver"
	"github.com/klaxon-ops/klaxon/internal/references"
	"github.com/klaxon-ops/klaxon/internal/server"
)

// setupIntake registers the reconcilers of alert intake: AlertSource and Heartbeat
// readiness (their Secrets are watched as metadata only), heartbeat deadlines, and
// maintenance windows. Receiving alerts and pings is RegisterIntake's, on every
// replica.
func setupIntake(mgr ctrl.Manager, opts Options, refs references.Resolver, recorder events.EventRecorder) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	for _, obj := range []client.Object{&klaxonv1.AlertSource{}, &klaxonv1.Heartbeat{}} {
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), obj, referencesIndex, refs.IndexKeys); err != nil {
			return fmt.Errorf("indexing %T by reference: %w", obj, err)
		}
	}

	if err := ctrl.NewControllerManagedBy(mgr).For(&klaxonv1.AlertSource{}).Named("alertsource").
		WatchesMetadata(&corev1.Secret{}, referrers(mgr.GetClient(), &klaxonv1.AlertSourceList{}, references.KindSecret)).
		Complete(&AlertSourceReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Refs: refs,
			Recorder: recorder}); err != nil {
		return fmt.Errorf("setting up the alert source controller: %w", err)
	}

	if err := ctrl.NewControllerManagedBy(mgr).For(&klaxonv1.Heartbeat{}).Named("heartbeat").
		WatchesMetadata(&corev1.Secret{}, referrers(mgr.GetClient(), &klaxonv1.HeartbeatList{}, references.KindSecret)).
		Complete(&HeartbeatReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Refs: refs,
			Recorder: recorder, Now: opts.Now}); err != nil {
		return fmt.Errorf("setting up the heartbeat controller: %w", err)
	}

	if err := ctrl.NewControllerManagedBy(mgr).For(&klaxonv1.MaintenanceWindow{}).Named("maintenancewindow").
		Complete(&MaintenanceWindowReconciler{Client: mgr.GetClient(), Recorder: recorder, Now: opts.Now}); err != nil {
		return fmt.Errorf("setting up the maintenance window controller: %w", err)
	}
	return nil
}

// The receiver's RBAC: it opens, updates and counts incidents, counts in windows and
// sources, records pings, and reads the Secrets endpoints authenticate against.
// +kubebuilder:rbac:groups=klaxon.dev,resources=incidents,verbs=get;list;watch;create;patch
// +kubebuilder:rbac:groups=klaxon.dev,resources=incidents/status;alertsources/status;heartbeats/status;maintenancewindows/status,verbs=get;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get

// openIncidents lists the requests of the incidents not yet resolved in a namespace,
// or in every namespace when it is the provider's: what a change of a maintenance
// window there may concern.
func openIncidents(ctx context.Context, c client.Client, namespace, systemNamespace string) []reconcile.Request {
	var list klaxonv1.IncidentList
	var opts []client.ListOption
	if namespace != systemNamespace {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := c.List(ctx, &list, opts...); err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "listing incidents under a maintenance window", "namespace", namespace)
		return nil
	}
	var reqs []reconcile.Request
	for _, inc := range list.Items {
		if inc.Status.State != klaxonv1.StateResolved {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&inc)})
		}
	}
	return reqs
}

// maintenanceChanged passes a window's creation, deletion, spec edit, and its opening
// and closing (status.active): the moments a held page may become due or a due one
// held.
func maintenanceChanged() predicate.Funcs {
	return predicate.Funcs{UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*klaxonv1.MaintenanceWindow)
		n, ok2 := e.ObjectNew.(*klaxonv1.MaintenanceWindow)
		return !ok1 || !ok2 || o.Generation != n.Generation || o.Status.Active != n.Status.Active
	}}
}

// RegisterIntake serves alert intake and heartbeat pings on srv, on every replica:
// POST /api/v1/alerts/{namespace}/{alertsource} and POST|GET
// /api/v1/heartbeats/{namespace}/{heartbeat}. Call it before the manager starts; the
// endpoints answer 503 until the manager's cache holds the incidents already open.
func RegisterIntake(mgr ctrl.Manager, srv *server.Server, opts Options) (*receiver.Receiver, error) {
	c, err := intakeClient(mgr, opts)
	if err != nil {
		return nil, err
	}
	r, err := receiver.New(mgr, receiver.Options{SystemNamespace: opts.SystemNamespace, Now: opts.Now,
		Recorder: mgr.GetEventRecorder("klaxon-intake"), Client: c})
	if err != nil {
		return nil, fmt.Errorf("setting up alert intake: %w", err)
	}
	r.Register(srv)
	return r, nil
}

// intakeClient is, with opts.IntakeQPS, a client of intake's own: it reads from the
// manager's cache and writes through its own rate limiter and connection. Without,
// it is nil, and intake writes with the manager's (receiver.Options.Client).
func intakeClient(mgr ctrl.Manager, opts Options) (client.Client, error) {
	if opts.IntakeQPS <= 0 {
		return nil, nil
	}
	cfg := rest.CopyConfig(mgr.GetConfig())
	cfg.QPS, cfg.Burst = opts.IntakeQPS, opts.IntakeBurst
	c, err := client.New(cfg, client.Options{Scheme: mgr.GetScheme(), Cache: &client.CacheOptions{Reader: mgr.GetCache()}})
	if err != nil {
		return nil, fmt.Errorf("building intake's client: %w", err)
	}
	return c, nil
}
