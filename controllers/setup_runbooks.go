package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/dispatch"
	"github.com/klaxon-ops/klaxon/internal/references"
	"github.com/klaxon-ops/klaxon/internal/runbook"
)

// runbooksIndex indexes incidents by the runbooks attached to them, so a change of
// a runbook reaches the incidents that use it.
const runbooksIndex = ".status.runbooks"

// setupRunbooks registers the Runbook readiness controller and the controller that
// runs incidents' runbooks ("runbook").
func setupRunbooks(mgr ctrl.Manager, opts Options, refs references.Resolver, recorder events.EventRecorder) error {
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &klaxonv1.Runbook{}, referencesIndex, refs.IndexKeys); err != nil {
		return fmt.Errorf("indexing runbooks by reference: %w", err)
	}
	readiness := watchReferences(ctrl.NewControllerManagedBy(mgr).
		For(&klaxonv1.Runbook{}).Named("runbookreadiness"), mgr, &klaxonv1.RunbookList{},
		references.KindStakeholderGroup).
		// ServiceAccounts and Secrets as metadata only: their contents never enter
		// the cache.
		WatchesMetadata(&corev1.ServiceAccount{}, referrers(mgr.GetClient(), &klaxonv1.RunbookList{}, references.KindServiceAccount)).
		WatchesMetadata(&corev1.Secret{}, referrers(mgr.GetClient(), &klaxonv1.RunbookList{}, references.KindSecret))
	if err := readiness.Complete(&ReferenceReconciler[*klaxonv1.Runbook]{Client: mgr.GetClient(), Refs: refs, Recorder: recorder,
		New:   func() *klaxonv1.Runbook { return &klaxonv1.Runbook{} },
		Check: runbookCheck(mgr.GetAPIReader())}); err != nil {
		return fmt.Errorf("setting up the runbook readiness controller: %w", err)
	}

	notifyOpts := opts.Notify
	notifyOpts.SystemNamespace = opts.SystemNamespace
	teller, err := dispatch.New(mgr.GetClient(), mgr.GetAPIReader(), opts.Engine, notifyOpts)
	if err != nil {
		return err
	}
	executors := runbook.Executors{
		klaxonv1.ActionWebhook:    runbook.WebhookExecutor{Secrets: mgr.GetAPIReader()},
		klaxonv1.ActionKubernetes: runbook.KubernetesExecutor{Config: mgr.GetConfig(), Mapper: mgr.GetRESTMapper()},
		klaxonv1.ActionNotify:     runbook.NotifyExecutor{Teller: teller},
		klaxonv1.ActionSetStage:   runbook.StageExecutor{Client: mgr.GetClient()},
	}

	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &klaxonv1.Incident{}, runbooksIndex,
		func(o client.Object) []string { return o.(*klaxonv1.Incident).Status.Runbooks }); err != nil {
		return fmt.Errorf("indexing incidents by runbook: %w", err)
	}
	if err := ctrl.NewControllerManagedBy(mgr).
		For(&klaxonv1.Incident{}).
		Named("runbook").
		// Actions wait on automation endpoints and the API server.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Watches(&klaxonv1.Runbook{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				var list klaxonv1.IncidentList
				if err := mgr.GetClient().List(ctx, &list, client.MatchingFields{runbooksIndex: o.GetNamespace() + "/" + o.GetName()}); err != nil {
					ctrl.LoggerFrom(ctx).Error(err, "listing incidents of a runbook", "runbook", o.GetName())
					return nil
				}
				reqs := make([]reconcile.Request, 0, len(list.Items))
				for _, inc := range list.Items {
					reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: inc.Namespace, Name: inc.Name}})
				}
				return reqs
			}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Complete(&RunbookRunReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder,
			Gate: runbook.Gate{Engine: opts.Engine}, Executors: executors, SystemNamespace: opts.SystemNamespace,
			// A denial is final: no action is gated before every IncidentPolicy is
			// in the engine, so a tenant's allow is never missed at start.
			PoliciesLoaded: opts.policiesLoaded, Now: opts.Now}); err != nil {
		return fmt.Errorf("setting up the runbook controller: %w", err)
	}
	return nil
}
