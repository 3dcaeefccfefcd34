// Package controllers holds Klaxon's reconcilers. They are thin: fetch the object,
// call the domain packages under internal/, write status, emit events on transitions.
package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/dispatch"
	"github.com/klaxon-ops/klaxon/internal/intake/receiver"
	"github.com/klaxon-ops/klaxon/internal/policy"
	"github.com/klaxon-ops/klaxon/internal/references"
)

// referencesIndex indexes Klaxon objects by the objects they reference
// ("Kind/namespace/name"), so a change to a referenced object reaches the objects
// waiting for it.
const referencesIndex = ".klaxon.references"

// Options configures the reconcilers.
type Options struct {
	// SystemNamespace is the provider's namespace, whose objects apply to every tenant.
	SystemNamespace string
	// Engine takes policy decisions; SetupWithManager keeps it loaded with every
	// IncidentPolicy.
	Engine *policy.Engine
	// Notify configures paging and notifications.
	Notify dispatch.Options
	// Now is the clock; nil for time.Now.
	Now func() time.Time
	// IncidentWorkers is how many incidents are reconciled at once; DefaultIncidentWorkers
	// when zero.
	IncidentWorkers int
	// IntakeQPS and IntakeBurst limit intake's own client to the API server, apart
	// from the manager's that the reconcilers share. In an alert storm every sender
	// waits on intake's creates; sharing one limiter with the reconciles of the
	// incidents it opens would queue them behind those. Zero QPS for the manager's
	// client.
	IntakeQPS   float32
	IntakeBurst int
	// PostmortemCacheDir holds the local bare caches of the PostmortemRepositories'
	// remotes, one directory each, reused across restarts; empty for a temporary
	// directory removed at stop (each start then fetches the remotes again).
	PostmortemCacheDir string

	// policiesLoaded reports whether the engine holds every IncidentPolicy yet;
	// SetupWithManager sets it for the reconcilers that take decisions.
	policiesLoaded func() bool
}

// DefaultIncidentWorkers is how many incidents are reconciled at once by default.
// A reconcile mostly waits: on the API server for its claim and its record, on a
// receiver for a page. Pages fall due on whole seconds (status keeps seconds), so
// all those due in one second are released at once; with fewer workers than that
// burst, later pages wait behind earlier ones' result writes.
const DefaultIncidentWorkers = 32

// escalationPolicyIndex indexes incidents by the escalation policy they follow, so an
// edit of the policy reaches them at once.
const escalationPolicyIndex = ".status.escalationPolicy"

// SetupWithManager registers every Klaxon reconciler and the indexes they need.
func SetupWithManager(mgr ctrl.Manager, opts Options) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.IncidentWorkers == 0 {
		opts.IncidentWorkers = DefaultIncidentWorkers
	}
	refs := references.Resolver{SystemNamespace: opts.SystemNamespace}
	recorder := mgr.GetEventRecorder("klaxon")

	for _, obj := range []client.Object{&klaxonv1.Responder{}, &klaxonv1.OnCallSchedule{},
		&klaxonv1.EscalationPolicy{}, &klaxonv1.StakeholderGroup{}, &klaxonv1.NotificationChannel{}} {
		if err := mgr.GetFieldIndexer().IndexField(context.Background(), obj, referencesIndex, refs.IndexKeys); err != nil {
			return fmt.Errorf("indexing %T by reference: %w", obj, err)
		}
	}

	// Policies load on every replica: admission evaluates them everywhere.
	policies := &IncidentPolicyReconciler{Client: mgr.GetClient(), Engine: opts.Engine, Recorder: recorder}
	opts.policiesLoaded = policies.Loaded
	if err := ctrl.NewControllerManagedBy(mgr).
		For(&klaxonv1.IncidentPolicy{}).
		Named("incidentpolicy").
		WithOptions(controller.Options{NeedLeaderElection: ptr.To(false)}).
		Complete(policies); err != nil {
		return fmt.Errorf("setting up the incident policy controller: %w", err)
	}
	if err := mgr.Add(everyReplica(func(ctx context.Context) error {
		if !mgr.GetCache().WaitForCacheSync(ctx) {
			return fmt.Errorf("waiting for the cache to load incident policies")
		}
		return policies.LoadAll(ctx, mgr.GetClient())
	})); err != nil {
		return fmt.Errorf("adding the policy loader: %w", err)
	}

	opts.Notify.SystemNamespace = opts.SystemNamespace
	// Maintenance windows hold the pages of incidents their alerts opened.
	opts.Notify.Muters = append(opts.Notify.Muters, receiver.NewMuter(mgr.GetClient(), opts.SystemNamespace))
	dispatcher, err := dispatch.New(mgr.GetClient(), mgr.GetAPIReader(), opts.Engine, opts.Notify)
	if err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &klaxonv1.Incident{}, escalationPolicyIndex,
		func(o client.Object) []string {
			if ep := o.(*klaxonv1.Incident).Status.EscalationPolicy; ep != "" {
				return []string{ep}
			}
			return nil
		}); err != nil {
		return fmt.Errorf("indexing incidents by escalation policy: %w", err)
	}
	if err := ctrl.NewControllerManagedBy(mgr).
		For(&klaxonv1.Incident{}).
		Named("incident").
		WithOptions(controller.Options{MaxConcurrentReconciles: opts.IncidentWorkers}).
		Watches(&klaxonv1.EscalationPolicy{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				var list klaxonv1.IncidentList
				if err := mgr.GetClient().List(ctx, &list, client.MatchingFields{escalationPolicyIndex: o.GetNamespace() + "/" + o.GetName()}); err != nil {
					return nil
				}
				var reqs []reconcile.Request
				for _, inc := range list.Items {
					if inc.Status.State != klaxonv1.StateResolved {
						reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: inc.Namespace, Name: inc.Name}})
					}
				}
				return reqs
			}), builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		// A window that opens or closes changes what the incidents under it may send.
		Watches(&klaxonv1.MaintenanceWindow{}, handler.EnqueueRequestsFromMapFunc(
			func(ctx context.Context, o client.Object) []reconcile.Request {
				return openIncidents(ctx, mgr.GetClient(), o.GetNamespace(), opts.SystemNamespace)
			}), builder.WithPredicates(maintenanceChanged())).
		Complete(&IncidentReconciler{Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: recorder,
			Engine: opts.Engine, Dispatcher: dispatcher, PoliciesLoaded: policies.Loaded, Now: opts.Now}); err != nil {
		return fmt.Errorf("setting up the incident controller: %w", err)
	}

	if err := watchReferences(ctrl.NewControllerManagedBy(mgr).
		For(&klaxonv1.OnCallSchedule{}).Named("oncallschedule"), mgr, &klaxonv1.OnCallScheduleList{},
		references.KindResponder).
		Complete(&OnCallScheduleReconciler{Client: mgr.GetClient(), Refs: refs, Recorder: recorder, Now: opts.Now}); err != nil {
		return fmt.Errorf("setting up the on-call schedule controller: %w", err)
	}

	if err := watchReferences(ctrl.NewControllerManagedBy(mgr).
		For(&klaxonv1.Responder{}).Named("responder"), mgr, &klaxonv1.ResponderList{},
		references.KindNotificationChannel).
		Complete(&ReferenceReconciler[*klaxonv1.Responder]{Client: mgr.GetClient(), Refs: refs, Recorder: recorder,
			New: func() *klaxonv1.Responder { return &klaxonv1.Responder{} }}); err != nil {
		return fmt.Errorf("setting up the responder controller: %w", err)
	}

	if err := watchReferences(ctrl.NewControllerManagedBy(mgr).
		For(&klaxonv1.EscalationPolicy{}).Named("escalationpolicy"), mgr, &klaxonv1.EscalationPolicyList{},
		references.KindResponder, references.KindOnCallSchedule, references.KindStakeholderGroup).
		Complete(&ReferenceReconciler[*klaxonv1.EscalationPolicy]{Client: mgr.GetClient(), Refs: refs, Recorder: recorder,
			New: func() *klaxonv1.EscalationPolicy { return &klaxonv1.EscalationPolicy{} }}); err != nil {
		return fmt.Errorf("setting up the escalation policy controller: %w", err)
	}

	if err := watchReferences(ctrl.NewControllerManagedBy(mgr).
		For(&klaxonv1.StakeholderGroup{}).Named("stakeholdergroup"), mgr, &klaxonv1.StakeholderGroupList{},
		references.KindResponder, references.KindNotificationChannel).
		Complete(&ReferenceReconciler[*klaxonv1.StakeholderGroup]{Client: mgr.GetClient(), Refs: refs, Recorder: recorder,
			New: func() *klaxonv1.StakeholderGroup { return &klaxonv1.StakeholderGroup{} }}); err != nil {
		return fmt.Errorf("setting up the stakeholder group controller: %w", err)
	}

	if err := setupIntake(mgr, opts, refs, recorder); err != nil {
		return err
	}

	// Secrets are watched as metadata only: their contents never enter the cache.
	channels := ctrl.NewControllerManagedBy(mgr).For(&klaxonv1.NotificationChannel{}).Named("notificationchannel").
		WatchesMetadata(&corev1.Secret{}, referrers(mgr.GetClient(), &klaxonv1.NotificationChannelList{}, references.KindSecret))
	if err := channels.Complete(&ReferenceReconciler[*klaxonv1.NotificationChannel]{Client: mgr.GetClient(), Refs: refs,
		Recorder: recorder,
		New:      func() *klaxonv1.NotificationChannel { return &klaxonv1.NotificationChannel{} },
		Check:    channelSecretCheck(mgr.GetAPIReader())}); err != nil {
		return fmt.Errorf("setting up the notification channel controller: %w", err)
	}
	if err := setupPostmortems(mgr, opts, refs, recorder); err != nil {
		return err
	}
	if err := setupRunbooks(mgr, opts, refs, recorder); err != nil {
		return err
	}
	return nil
}

// everyReplica is a runnable that runs on every replica, not only the leader.
type everyReplica func(context.Context) error

func (f everyReplica) Start(ctx context.Context) error { return f(ctx) }
func (f everyReplica) NeedLeaderElection() bool        { return false }

// watchReferences makes a controller reconcile its objects when an object of one of
// the referenced kinds changes. Status-only updates of the referenced object are
// ignored; its existence and spec are what matter.
func watchReferences(b *builder.Builder, mgr ctrl.Manager, list client.ObjectList, kinds ...string) *builder.Builder {
	for _, kind := range kinds {
		obj, err := references.NewObject(kind)
		if err != nil {
			continue // a typo here shows up as a controller that never turns Ready in tests
		}
		b = b.Watches(obj, referrers(mgr.GetClient(), list, kind),
			builder.WithPredicates(predicate.GenerationChangedPredicate{}))
	}
	return b
}

// referrers maps an object to the reconcile requests of the objects (of list's kind)
// that reference it, across namespaces: the provider's objects are referenced from
// every tenant.
func referrers(c client.Client, list client.ObjectList, kind string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, obj client.Object) []reconcile.Request {
		l := list.DeepCopyObject().(client.ObjectList)
		key := references.Key(kind, obj.GetNamespace(), obj.GetName())
		if err := c.List(ctx, l, client.MatchingFields{referencesIndex: key}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "listing referrers", "reference", key)
			return nil
		}
		var reqs []reconcile.Request
		_ = meta.EachListItem(l, func(o runtime.Object) error {
			m, err := meta.Accessor(o)
			if err == nil {
				reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: m.GetNamespace(), Name: m.GetName()}})
			}
			return nil
		})
		return reqs
	})
}
