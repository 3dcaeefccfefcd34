package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/dispatch"
	"github.com/klaxon-ops/klaxon/internal/postmortem"
	"github.com/klaxon-ops/klaxon/internal/references"
)

// setupPostmortems registers the reconcilers of post-mortem records: PostmortemRepository
// readiness (its Secrets watched as metadata only) and the post-mortem controller that
// commits resolved incidents' records, holds their finalizer and applies retention.
// Both share one registry of open repositories, whose caches live under
// opts.PostmortemCacheDir (a temporary directory, removed at stop, when empty).
func setupPostmortems(mgr ctrl.Manager, opts Options, refs references.Resolver, recorder events.EventRecorder) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	// With no directory configured the caches go to a temporary one, made only once a
	// repository is opened and removed when the manager stops.
	registry := postmortem.NewRegistry(opts.PostmortemCacheDir)
	if err := mgr.Add(everyReplica(func(ctx context.Context) error {
		<-ctx.Done()
		return registry.Close()
	})); err != nil {
		return fmt.Errorf("adding the post-mortem cache closer: %w", err)
	}
	repos := &repositories{secrets: mgr.GetAPIReader(), registry: registry, now: opts.Now}

	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &klaxonv1.PostmortemRepository{}, referencesIndex,
		postmortemRepositoryReferences); err != nil {
		return fmt.Errorf("indexing post-mortem repositories by Secret: %w", err)
	}
	// Status writes (its own, and the last push recorded after each commit) do not
	// bring a repository back: each check fetches from the remote.
	if err := ctrl.NewControllerManagedBy(mgr).
		For(&klaxonv1.PostmortemRepository{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("postmortemrepository").
		WatchesMetadata(&corev1.Secret{}, referrers(mgr.GetClient(), &klaxonv1.PostmortemRepositoryList{}, references.KindSecret)).
		Complete(&PostmortemRepositoryReconciler{Client: mgr.GetClient(), Repos: repos, Recorder: recorder}); err != nil {
		return fmt.Errorf("setting up the post-mortem repository controller: %w", err)
	}

	var dispatcher *dispatch.Dispatcher
	if opts.Engine != nil {
		notifyOpts := opts.Notify
		notifyOpts.SystemNamespace = opts.SystemNamespace
		d, err := dispatch.New(mgr.GetClient(), mgr.GetAPIReader(), opts.Engine, notifyOpts)
		if err != nil {
			return err
		}
		dispatcher = d
	}
	r := &PostmortemReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder, Repos: repos,
		Engine: opts.Engine, Dispatcher: dispatcher, PoliciesLoaded: opts.policiesLoaded,
		SystemNamespace: opts.SystemNamespace, Now: opts.Now}
	if err := ctrl.NewControllerManagedBy(mgr).
		For(&klaxonv1.Incident{}).
		Named("postmortem").
		// Commits wait on the remote; records that arrive together share a push.
		WithOptions(controller.Options{MaxConcurrentReconciles: 4}).
		Watches(&klaxonv1.PostmortemRepository{}, incidentsGoverned(mgr.GetClient(), opts.SystemNamespace),
			builder.WithPredicates(repositoryChanged())).
		Complete(r); err != nil {
		return fmt.Errorf("setting up the post-mortem controller: %w", err)
	}
	return nil
}

// incidentsGoverned maps a PostmortemRepository to the incidents it may govern: those
// of its namespace, or every incident for the provider's repository (tenants without
// one of their own use it).
func incidentsGoverned(c client.Client, systemNamespace string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var list klaxonv1.IncidentList
		var opts []client.ListOption
		if o.GetNamespace() != systemNamespace {
			opts = append(opts, client.InNamespace(o.GetNamespace()))
		}
		if err := c.List(ctx, &list, opts...); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing incidents for a post-mortem repository", "repository", o.GetNamespace()+"/"+o.GetName())
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, inc := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: inc.Namespace, Name: inc.Name}})
		}
		return reqs
	})
}

// repositoryChanged passes a repository's creation and deletion, spec edits, and a
// change of its Ready condition (a Secret appeared, the remote came back), which is
// when waiting incidents should try again.
func repositoryChanged() predicate.Predicate {
	return predicate.Funcs{
		UpdateFunc: func(e event.UpdateEvent) bool {
			if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() {
				return true
			}
			before, okB := e.ObjectOld.(*klaxonv1.PostmortemRepository)
			after, okA := e.ObjectNew.(*klaxonv1.PostmortemRepository)
			if !okB || !okA {
				return false
			}
			b := meta.FindStatusCondition(before.Status.Conditions, klaxonv1.ConditionReady)
			a := meta.FindStatusCondition(after.Status.Conditions, klaxonv1.ConditionReady)
			return (a == nil) != (b == nil) || (a != nil && (a.Status != b.Status || a.Reason != b.Reason))
		},
	}
}
