package controllers

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/postmortem"
	"github.com/klaxon-ops/klaxon/internal/references"
)

// How often a PostmortemRepository's remote is checked again: while Ready, to notice
// it went away; while unreachable, soon for a network problem and slowly for one that
// takes a person (credentials, a missing repository).
const (
	remoteRecheckReady     = 10 * time.Minute
	remoteRecheckTransient = 30 * time.Second
	remoteRecheckOther     = 2 * time.Minute
	remoteCheckTimeout     = time.Minute
	// maxConditionMessage keeps an error from a remote well under the API's bound.
	maxConditionMessage = 4096
)

// PostmortemRepositoryReconciler reports whether a PostmortemRepository can take
// records: its Secrets hold the keys its remote and signing need, its URL, branch,
// path template, redaction and signing key are valid, and its remote answers with
// those credentials (Ready, with the reason and what is missing; Stalled for a spec
// only a person can fix). It keeps the repository open in the registry the
// post-mortem controller commits through.
type PostmortemRepositoryReconciler struct {
	Client   client.Client
	Repos    *repositories
	Recorder events.EventRecorder
}

// +kubebuilder:rbac:groups=klaxon.dev,resources=postmortemrepositories,verbs=get;list;watch
// +kubebuilder:rbac:groups=klaxon.dev,resources=postmortemrepositories/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch

// Reconcile checks one PostmortemRepository.
func (r *PostmortemRepositoryReconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	var pmr klaxonv1.PostmortemRepository
	if err := r.Client.Get(ctx, req.NamespacedName, &pmr); err != nil {
		if apierrors.IsNotFound(err) {
			// Gone: its cache mirrors a remote nobody commits to any more.
			return reconcile.Result{}, r.Repos.forget(req.Namespace + "/" + req.Name)
		}
		return reconcile.Result{}, err
	}
	if !pmr.DeletionTimestamp.IsZero() {
		return reconcile.Result{}, nil
	}
	orig := pmr.DeepCopy()

	result, retErr := r.check(ctx, &pmr)
	pmr.Status.ObservedGeneration = pmr.Generation
	if err := writeStatus(ctx, r.Client, &pmr, orig, false); err != nil {
		return reconcile.Result{}, err
	}
	announceReadiness(r.Recorder, orig.Status.Conditions, &pmr)
	return result, retErr
}

// check opens the repository and fetches from its remote, and sets Ready and Stalled.
func (r *PostmortemRepositoryReconciler) check(ctx context.Context, pmr *klaxonv1.PostmortemRepository) (reconcile.Result, error) {
	repo, err := r.Repos.open(ctx, pmr)
	if err != nil {
		// A missing Secret waits for the Secret watch; an invalid spec for an edit.
		return applyReadiness(pmr, err)
	}
	syncCtx, cancel := context.WithTimeout(ctx, remoteCheckTimeout)
	defer cancel()
	if err := repo.Sync(syncCtx); err != nil {
		kind := postmortem.KindOf(err)
		setCondition(pmr, klaxonv1.ConditionReady, metav1.ConditionFalse, kind.String(), truncateMessage(err.Error(), maxConditionMessage))
		removeCondition(pmr, klaxonv1.ConditionStalled)
		log.FromContext(ctx).Info("post-mortem remote not reachable", "reason", kind.String(), "error", err.Error())
		if kind == postmortem.Transient {
			return reconcile.Result{RequeueAfter: remoteRecheckTransient}, nil
		}
		return reconcile.Result{RequeueAfter: remoteRecheckOther}, nil
	}
	setCondition(pmr, klaxonv1.ConditionReady, metav1.ConditionTrue, klaxonv1.ReasonReconciled,
		fmt.Sprintf("the remote answers; records go to branch %s (%s)", branchOf(pmr), modeOf(pmr)))
	removeCondition(pmr, klaxonv1.ConditionStalled)
	return reconcile.Result{RequeueAfter: remoteRecheckReady}, nil
}

func branchOf(pmr *klaxonv1.PostmortemRepository) string {
	if pmr.Spec.Branch == "" {
		return postmortem.DefaultBranch
	}
	return pmr.Spec.Branch
}

func modeOf(pmr *klaxonv1.PostmortemRepository) klaxonv1.CommitMode {
	if pmr.Spec.Mode == "" {
		return klaxonv1.CommitDirect
	}
	return pmr.Spec.Mode
}

// repositories opens PostmortemRepositories through the registry. It reads their
// Secrets through an uncached reader, so Secret contents never sit in the cache, and
// never logs or reports a Secret's value.
type repositories struct {
	secrets  client.Reader
	registry *postmortem.Registry
	now      func() time.Time
}

// open returns pmr's Repository, opening it when the spec or a Secret changed since.
// Problems the owner must fix come back as a *references.Problem.
func (rs *repositories) open(ctx context.Context, pmr *klaxonv1.PostmortemRepository) (*postmortem.Repository, error) {
	spec := pmr.Spec
	if problems := postmortem.CheckSpec(spec); len(problems) > 0 {
		return nil, &references.Problem{Reason: klaxonv1.ReasonInvalidSpec, Message: strings.Join(problems, "; "), Terminal: true}
	}
	var data map[string][]byte
	version := fmt.Sprintf("%s/%d", pmr.UID, pmr.Generation)
	if spec.SecretRef != nil {
		s, err := rs.secret(ctx, pmr.Namespace, spec.SecretRef.Name, "spec.secretRef")
		if err != nil {
			return nil, err
		}
		data, version = s.Data, version+"/"+s.ResourceVersion
	}
	if err := checkRepositorySecret(pmr, data); err != nil {
		return nil, err
	}
	var token string
	if f := spec.Forge; f != nil {
		s, err := rs.secret(ctx, pmr.Namespace, f.SecretRef.Name, "spec.forge.secretRef")
		if err != nil {
			return nil, err
		}
		token = string(s.Data[klaxonv1.SecretKeyToken])
		if token == "" {
			return nil, &references.Problem{Reason: klaxonv1.ReasonSecretKeyMissing,
				Message: fmt.Sprintf("Secret %s/%s has no key %q, the forge's API token (spec.forge.secretRef)", pmr.Namespace, f.SecretRef.Name, klaxonv1.SecretKeyToken)}
		}
		version += "/" + s.ResourceVersion
	}
	repo, err := rs.registry.Open(pmr.Namespace+"/"+pmr.Name, version, spec.URL, func(dir string) (postmortem.Options, error) {
		opts, err := postmortem.OptionsFromSpec(dir, spec, data, token)
		opts.Now = rs.now
		return opts, err
	})
	if err != nil {
		if postmortem.KindOf(err) == postmortem.Permanent {
			return nil, &references.Problem{Reason: klaxonv1.ReasonInvalidSpec, Message: err.Error(), Terminal: true}
		}
		return nil, fmt.Errorf("opening post-mortem repository %s/%s: %w", pmr.Namespace, pmr.Name, err)
	}
	return repo, nil
}

// forget closes a repository that is gone and deletes its cache.
func (rs *repositories) forget(key string) error {
	if err := rs.registry.Remove(key); err != nil {
		return fmt.Errorf("removing the cache of post-mortem repository %s: %w", key, err)
	}
	return nil
}

func (rs *repositories) secret(ctx context.Context, ns, name, field string) (*corev1.Secret, error) {
	var s corev1.Secret
	if err := rs.secrets.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, &s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &references.Problem{Reason: klaxonv1.ReasonSecretNotFound,
				Message: fmt.Sprintf("Secret %s/%s not found (%s)", ns, name, field)}
		}
		return nil, fmt.Errorf("reading Secret %s/%s: %w", ns, name, err)
	}
	return &s, nil
}

// checkRepositorySecret checks the Secret holds the keys the remote's scheme and
// signing need, and that the signing key unlocks. Messages name keys, never values.
func checkRepositorySecret(pmr *klaxonv1.PostmortemRepository, data map[string][]byte) error {
	if pmr.Spec.SecretRef == nil {
		return nil
	}
	name := pmr.Namespace + "/" + pmr.Spec.SecretRef.Name
	missing := func(key, why string) error {
		return &references.Problem{Reason: klaxonv1.ReasonSecretKeyMissing,
			Message: fmt.Sprintf("Secret %s has no key %q, %s (spec.secretRef)", name, key, why)}
	}
	u, _ := url.Parse(pmr.Spec.URL)
	switch u.Scheme {
	case "ssh":
		if len(data[klaxonv1.SecretKeySSHPrivateKey]) == 0 {
			return missing(klaxonv1.SecretKeySSHPrivateKey, "the ssh private key")
		}
		if len(data[klaxonv1.SecretKeyKnownHosts]) == 0 {
			return missing(klaxonv1.SecretKeyKnownHosts, "the ssh host keys (never accepted unverified)")
		}
	case "https", "http":
		if len(data[klaxonv1.SecretKeyUsername]) > 0 && len(data[klaxonv1.SecretKeyPassword]) == 0 {
			return missing(klaxonv1.SecretKeyPassword, "the password or token for the username")
		}
		if len(data[klaxonv1.SecretKeyPassword]) == 0 && !pmr.Spec.Sign {
			return missing(klaxonv1.SecretKeyPassword, "the password or token for https")
		}
	}
	if pmr.Spec.Sign {
		key := data[klaxonv1.SecretKeySigningKey]
		if len(key) == 0 {
			return missing(klaxonv1.SecretKeySigningKey, "the armored OpenPGP private key that signs commits")
		}
		if _, err := postmortem.NewSigner(key, data[klaxonv1.SecretKeyPassphrase]); err != nil {
			return &references.Problem{Reason: klaxonv1.ReasonInvalidSecret,
				Message: fmt.Sprintf("Secret %s: %s: %v (spec.secretRef)", name, klaxonv1.SecretKeySigningKey, err)}
		}
	}
	return nil
}

// postmortemRepositoryReferences are the index keys of the Secrets a
// PostmortemRepository reads, for the Secret watch. Secrets are read from the
// repository's own namespace only.
func postmortemRepositoryReferences(o client.Object) []string {
	pmr, ok := o.(*klaxonv1.PostmortemRepository)
	if !ok {
		return nil
	}
	var keys []string
	if s := pmr.Spec.SecretRef; s != nil {
		keys = append(keys, references.Key(references.KindSecret, pmr.Namespace, s.Name))
	}
	if f := pmr.Spec.Forge; f != nil && (pmr.Spec.SecretRef == nil || f.SecretRef.Name != pmr.Spec.SecretRef.Name) {
		keys = append(keys, references.Key(references.KindSecret, pmr.Namespace, f.SecretRef.Name))
	}
	return keys
}
