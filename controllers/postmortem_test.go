package controllers

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/postmortem"
)

// The post-mortem tests commit to real bare repositories over file:// and read them
// back with the git binary, as a person reviewing the records would.

// gitCmd runs git in dir, isolated from the machine's configuration, and returns its
// output; it fails the test on error.
func gitCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitOutput(t, dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func gitOutput(t *testing.T, dir string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required by these tests: apt-get install -y git")
	}
	home := filepath.Join(t.TempDir(), "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.invalid",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.invalid", "GIT_TERMINAL_PROMPT=0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), &gitError{err: err, stderr: stderr.String()}
	}
	return stdout.String(), nil
}

type gitError struct {
	err    error
	stderr string
}

func (e *gitError) Error() string { return e.err.Error() + ": " + e.stderr }

// initBareRemote creates an empty bare repository at dir whose default branch is main.
func initBareRemote(t *testing.T, dir string) string {
	t.Helper()
	gitCmd(t, "", "init", "--quiet", "--bare", "--initial-branch=main", dir)
	return dir
}

// commitCount is how many commits the remote's main has; 0 before the first.
func commitCount(t *testing.T, remote string) int {
	t.Helper()
	out, err := gitOutput(t, remote, "rev-list", "--count", "main")
	if err != nil {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func postmortemRepository(ns, name, remote string) *klaxonv1.PostmortemRepository {
	return &klaxonv1.PostmortemRepository{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: klaxonv1.PostmortemRepositorySpec{URL: "file://" + remote,
			Author: klaxonv1.Author{Name: "Klaxon", Email: "klaxon@example.invalid"}},
	}
}

// readyRecords creates the PostmortemRepository "records" in ns on a new bare remote,
// its spec edited by edit when given, waits until it is Ready, and returns the remote.
func readyRecords(t *testing.T, g Gomega, ns string, edit func(*klaxonv1.PostmortemRepositorySpec)) string {
	t.Helper()
	remote := initBareRemote(t, filepath.Join(t.TempDir(), "records.git"))
	pmr := postmortemRepository(ns, "records", remote)
	if edit != nil {
		edit(&pmr.Spec)
	}
	g.Expect(k8sClient.Create(context.Background(), pmr)).To(Succeed())
	expectReady(g, pmr)
	return remote
}

func postmortemCondition(inc *klaxonv1.Incident) *metav1.Condition {
	return meta.FindStatusCondition(inc.Status.Conditions, klaxonv1.ConditionPostmortemCommitted)
}

// createIncident opens an incident through the suite's manager and waits until the
// post-mortem controller has put its finalizer on it.
func createIncident(g Gomega, ns, name string) {
	inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: klaxonv1.IncidentSpec{Title: "checkout latency " + name, Severity: klaxonv1.SEV2, Service: "checkout",
			Description: "reported by jane.doe@example.com"}}
	g.Expect(k8sClient.Create(context.Background(), inc)).To(Succeed())
	g.Eventually(func(g Gomega) {
		g.Expect(controllerutil.ContainsFinalizer(getIncident(g, ns, name), klaxonv1.FinalizerPostmortem)).To(BeTrue())
	}).Should(Succeed())
}

func resolve(g Gomega, ns, name, rootCause string) {
	updateSpec(g, ns, name, func(i *klaxonv1.Incident) {
		i.Spec.State, i.Spec.Stage, i.Spec.RootCause = klaxonv1.StateResolved, klaxonv1.StageMonitor, rootCause
		i.Spec.Resolution = "rolled back v42"
	})
}

// committedIncident waits until the incident's record is committed and returns it.
func committedIncident(g Gomega, ns, name string, timeout time.Duration) *klaxonv1.Incident {
	var inc *klaxonv1.Incident
	g.Eventually(func(g Gomega) {
		inc = getIncident(g, ns, name)
		c := postmortemCondition(inc)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionTrue), c.Reason+": "+c.Message)
		g.Expect(c.ObservedGeneration).To(Equal(inc.Generation))
	}, timeout, 100*time.Millisecond).Should(Succeed())
	return inc
}

// TestPostmortemCommittedOnResolve follows one incident: its record lands in git when
// it resolves (front matter, redaction, status, event, the PostmortemPublished notice),
// reconciling again commits nothing, and a new root cause commits a new version of the
// same file.
func TestPostmortemCommittedOnResolve(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	remote := readyRecords(t, g, ns, nil)

	// Management hears of the published post-mortem, and of nothing else.
	s := newSink(t)
	s.channel(g, ns, "sink")
	g.Expect(k8sClient.Create(ctx, &klaxonv1.StakeholderGroup{ObjectMeta: metav1.ObjectMeta{Name: "mgmt", Namespace: ns},
		Spec: klaxonv1.StakeholderGroupSpec{Audience: klaxonv1.AudienceManagement,
			NotifyOn: []klaxonv1.IncidentEvent{klaxonv1.EventPostmortemPublished},
			Channels: []klaxonv1.GroupChannel{{ChannelRef: klaxonv1.ObjectReference{Name: "sink"}, Address: "mgmt-list"}}}})).To(Succeed())

	createIncident(g, ns, "latency")
	g.Consistently(func() int { return commitCount(t, remote) }, time.Second, 100*time.Millisecond).Should(BeZero(),
		"nothing is committed before the incident resolves")
	resolve(g, ns, "latency", "slow query after the v42 deploy")

	inc := committedIncident(g, ns, "latency", 30*time.Second)
	head := strings.TrimSpace(gitCmd(t, remote, "rev-parse", "main"))
	year := inc.Status.ResolvedAt.UTC().Format("2006")
	path := "postmortems/" + year + "/" + ns + "/latency.md"
	g.Expect(inc.Status.Postmortem).NotTo(BeNil())
	pm := inc.Status.Postmortem
	g.Expect([]string{pm.Repository, pm.Path, pm.Branch, pm.Commit}).To(Equal([]string{ns + "/records", path, "main", head}))
	g.Expect(inc.Status.Postmortem.CommittedAt).NotTo(BeNil())
	g.Expect(commitCount(t, remote)).To(Equal(1))
	g.Eventually(func() []string { return getIncident(g, ns, "latency").Finalizers }).ShouldNot(
		ContainElement(klaxonv1.FinalizerPostmortem), "the finalizer goes once the record is committed")

	content := gitCmd(t, remote, "show", "main:"+path)
	g.Expect(content).To(HavePrefix("---\n"))
	rec, err := postmortem.ParseRecord([]byte(content))
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(rec.Schema).To(Equal(postmortem.SchemaV1))
	g.Expect(rec.Incident).To(Equal(postmortem.IncidentRef{Namespace: ns, Name: "latency", UID: string(inc.UID)}))
	g.Expect(rec.RootCause).To(Equal("slow query after the v42 deploy"))
	g.Expect(rec.State).To(Equal("Resolved"))
	g.Expect(rec.Times.Resolved).NotTo(BeNil())
	g.Expect(rec.Times.MTTR).NotTo(BeNil())
	var types []string
	for _, e := range rec.Timeline {
		types = append(types, e.Type)
	}
	g.Expect(types).To(ContainElements("Triggered", "Resolved"))
	g.Expect(rec.Decisions).NotTo(BeEmpty(), "the triage decision and its input are in the record")
	g.Expect(rec.Decisions[0].Input).NotTo(BeEmpty())
	g.Expect(content).NotTo(ContainSubstring("jane.doe@example.com"), "e-mail addresses never reach git")
	g.Expect(gitCmd(t, remote, "log", "-1", "--format=%B", "main")).To(ContainSubstring("Klaxon-Incident: " + ns + "/latency"))

	// The event carries the revision.
	g.Eventually(func(g Gomega) {
		var evs eventsv1.EventList
		g.Expect(k8sClient.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
		var notes []string
		for _, e := range evs.Items {
			if e.Regarding.Name == "latency" && e.Reason == "PostmortemCommitted" {
				notes = append(notes, e.Note)
			}
		}
		g.Expect(notes).To(ConsistOf(ContainSubstring(head)))
	}).Should(Succeed())
	// The group that asked hears of the publication, once.
	g.Eventually(func() []arrival { return s.received("mgmt-list") }, 10*time.Second, 50*time.Millisecond).Should(HaveLen(1))
	g.Expect(s.received("mgmt-list")[0].payload.Event).To(Equal(klaxonv1.EventPostmortemPublished))

	// Reconciling again (an annotation brings the incident back) commits nothing.
	g.Expect(k8sClient.Patch(ctx, getIncident(g, ns, "latency"),
		client.RawPatch(client.Merge.Type(), []byte(`{"metadata":{"annotations":{"test.klaxon.dev/poke":"1"}}}`)))).To(Succeed())
	g.Consistently(func() int { return commitCount(t, remote) }, 3*time.Second, 100*time.Millisecond).Should(Equal(1))
	g.Expect(getIncident(g, ns, "latency").Status.Postmortem.Commit).To(Equal(head))

	// A later root cause is a new version of the same file; the publication is not
	// announced again.
	updateSpec(g, ns, "latency", func(i *klaxonv1.Incident) { i.Spec.RootCause = "an index dropped by the v42 migration" })
	g.Eventually(func() int { return commitCount(t, remote) }, 30*time.Second, 100*time.Millisecond).Should(Equal(2))
	inc = committedIncident(g, ns, "latency", 10*time.Second)
	head2 := strings.TrimSpace(gitCmd(t, remote, "rev-parse", "main"))
	g.Expect(head2).NotTo(Equal(head))
	g.Expect(inc.Status.Postmortem.Commit).To(Equal(head2))
	g.Expect(inc.Status.Postmortem.Path).To(Equal(path))
	g.Expect(strings.Fields(gitCmd(t, remote, "log", "--format=%H", "main", "--", path))).To(Equal([]string{head2, head}))
	g.Expect(gitCmd(t, remote, "show", "main:"+path)).To(ContainSubstring("an index dropped by the v42 migration"))
	gitCmd(t, remote, "fsck", "--strict")
	g.Consistently(func() []arrival { return s.received("mgmt-list") }, 2*time.Second, 100*time.Millisecond).Should(HaveLen(1))
	for _, a := range s.all() {
		g.Expect(a.payload.Event).To(Equal(klaxonv1.EventPostmortemPublished), "the group subscribes to nothing else")
	}
}

// TestPostmortemReusedName: an incident deleted after its record landed, and a new
// one of the same name (intake's sequence starts again after retention): the new
// record gets a file of its own, named in status, and the first is left as it was.
func TestPostmortemReusedName(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	// No year in the path: the two incidents may resolve on either side of New Year.
	remote := readyRecords(t, g, ns, func(s *klaxonv1.PostmortemRepositorySpec) {
		s.PathTemplate = "records/{{ .Namespace }}/{{ .Name }}.md"
	})

	createIncident(g, ns, "outage")
	resolve(g, ns, "outage", "power")
	first := committedIncident(g, ns, "outage", 30*time.Second)
	g.Expect(k8sClient.Delete(ctx, first)).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(apiReader.Get(ctx, client.ObjectKeyFromObject(first), &klaxonv1.Incident{}))
	}, 30*time.Second, 100*time.Millisecond).Should(BeTrue())
	// The first incident's last version.
	firstHead := strings.TrimSpace(gitCmd(t, remote, "rev-parse", "main"))
	g.Expect(gitCmd(t, remote, "show", "main:"+first.Status.Postmortem.Path)).To(ContainSubstring("uid: " + string(first.UID)))

	createIncident(g, ns, "outage")
	resolve(g, ns, "outage", "cooling")
	second := committedIncident(g, ns, "outage", 30*time.Second)
	g.Expect(second.UID).NotTo(Equal(first.UID))
	g.Expect(first.Status.Postmortem.Path).To(Equal("records/" + ns + "/outage.md"))
	want := "records/" + ns + "/outage-" + string(second.UID)[:8] + ".md"
	g.Expect(second.Status.Postmortem.Path).To(Equal(want))
	g.Expect(strings.Fields(gitCmd(t, remote, "diff", "--name-only", firstHead, "main"))).To(Equal([]string{want}),
		"the second incident's commits leave the first's file alone")
	g.Expect(gitCmd(t, remote, "show", "main:"+want)).To(ContainSubstring("rootCause: cooling"))
}

// TestPostmortemWaitsForTheRemote: a remote that is not there yet leaves the record
// pending with the reason, the finalizer holds a deleted incident, and the record lands
// (and the incident goes) once the remote is there.
func TestPostmortemWaitsForTheRemote(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	remote := filepath.Join(t.TempDir(), "later.git")
	pmr := postmortemRepository(ns, "records", remote)
	g.Expect(k8sClient.Create(ctx, pmr)).To(Succeed())
	g.Eventually(func(g Gomega) {
		c := readyCondition(g, pmr)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
	}).Should(Succeed())

	createIncident(g, ns, "outage")
	resolve(g, ns, "outage", "power")
	g.Eventually(func(g Gomega) {
		c := postmortemCondition(getIncident(g, ns, "outage"))
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(BeElementOf(postmortem.Transient.String(), postmortem.Permanent.String()))
		g.Expect(c.Message).To(ContainSubstring("fetch"))
	}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
	c := postmortemCondition(getIncident(g, ns, "outage"))
	t.Logf("while the remote is missing: %s: %s", c.Reason, c.Message)

	g.Expect(k8sClient.Delete(ctx, getIncident(g, ns, "outage"))).To(Succeed())
	g.Consistently(func(g Gomega) {
		inc := &klaxonv1.Incident{}
		g.Expect(apiReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: "outage"}, inc)).To(Succeed())
		g.Expect(inc.DeletionTimestamp).NotTo(BeNil())
		g.Expect(inc.Finalizers).To(ContainElement(klaxonv1.FinalizerPostmortem))
	}, 3*time.Second, 200*time.Millisecond).Should(Succeed(), "the finalizer holds the incident while its record is not in git")

	initBareRemote(t, remote)
	g.Eventually(func() bool {
		err := apiReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: "outage"}, &klaxonv1.Incident{})
		return apierrors.IsNotFound(err)
	}, 60*time.Second, 200*time.Millisecond).Should(BeTrue(), "the incident goes once its record lands")
	g.Expect(commitCount(t, remote)).To(Equal(1))
	g.Expect(gitCmd(t, remote, "ls-tree", "-r", "--name-only", "main")).To(ContainSubstring("/" + ns + "/outage.md"))
	g.Expect(gitCmd(t, remote, "show", "main:"+strings.TrimSpace(gitCmd(t, remote, "ls-tree", "-r", "--name-only", "main")))).To(
		ContainSubstring("rootCause: power"))
}

// TestPostmortemConcurrentRecordsLand: two incidents resolved at once both land, on a
// remote that someone else committed to after the cache last saw it.
func TestPostmortemConcurrentRecordsLand(t *testing.T) {
	g := NewWithT(t)
	ns := newNamespace(t)
	remote := readyRecords(t, g, ns, nil) // the cache has fetched the empty remote

	// Someone pushes a README meanwhile: the cache's view is stale.
	work := filepath.Join(t.TempDir(), "work")
	gitCmd(t, "", "clone", "--quiet", remote, work)
	gitCmd(t, work, "checkout", "--quiet", "-b", "main")
	g.Expect(os.WriteFile(filepath.Join(work, "README.md"), []byte("records\n"), 0o644)).To(Succeed())
	gitCmd(t, work, "add", "README.md")
	gitCmd(t, work, "commit", "--quiet", "-m", "readme")
	gitCmd(t, work, "push", "--quiet", "origin", "main")

	createIncident(g, ns, "alpha")
	createIncident(g, ns, "beta")
	resolve(g, ns, "alpha", "disk full")
	resolve(g, ns, "beta", "certificate expired")
	a := committedIncident(g, ns, "alpha", 30*time.Second)
	b := committedIncident(g, ns, "beta", 30*time.Second)

	files := strings.Fields(gitCmd(t, remote, "ls-tree", "-r", "--name-only", "main"))
	g.Expect(files).To(ConsistOf("README.md", a.Status.Postmortem.Path, b.Status.Postmortem.Path))
	g.Expect(commitCount(t, remote)).To(Equal(3))
	for _, inc := range []*klaxonv1.Incident{a, b} {
		// Each status names a commit on main that holds its record.
		gitCmd(t, remote, "merge-base", "--is-ancestor", inc.Status.Postmortem.Commit, "main")
		g.Expect(gitCmd(t, remote, "show", inc.Status.Postmortem.Commit+":"+inc.Status.Postmortem.Path)).To(
			ContainSubstring("name: " + inc.Name))
	}
	gitCmd(t, remote, "fsck", "--strict")
}

// TestPostmortemReleaseAnnotation: a person can let go of an incident whose record
// cannot be committed.
func TestPostmortemReleaseAnnotation(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	pmr := postmortemRepository(ns, "records", filepath.Join(t.TempDir(), "never.git"))
	g.Expect(k8sClient.Create(ctx, pmr)).To(Succeed())

	createIncident(g, ns, "stuck")
	resolve(g, ns, "stuck", "unknown")
	g.Eventually(func(g Gomega) {
		c := postmortemCondition(getIncident(g, ns, "stuck"))
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).NotTo(Equal(klaxonv1.ReasonAwaitingResolution))
	}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
	g.Expect(k8sClient.Delete(ctx, getIncident(g, ns, "stuck"))).To(Succeed())
	g.Consistently(func() error {
		return apiReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: "stuck"}, &klaxonv1.Incident{})
	}, 2*time.Second, 200*time.Millisecond).Should(Succeed(), "held by the finalizer")

	g.Expect(k8sClient.Patch(ctx, getIncident(g, ns, "stuck"), client.RawPatch(client.Merge.Type(),
		[]byte(`{"metadata":{"annotations":{"`+klaxonv1.AnnotationReleasePostmortem+`":"true"}}}`)))).To(Succeed())
	g.Eventually(func() bool {
		return apierrors.IsNotFound(apiReader.Get(ctx, client.ObjectKey{Namespace: ns, Name: "stuck"}, &klaxonv1.Incident{}))
	}, 10*time.Second, 100*time.Millisecond).Should(BeTrue())
	g.Eventually(func(g Gomega) {
		var evs eventsv1.EventList
		g.Expect(k8sClient.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
		var reasons []string
		for _, e := range evs.Items {
			if e.Regarding.Name == "stuck" {
				reasons = append(reasons, e.Reason)
			}
		}
		g.Expect(reasons).To(ContainElement("PostmortemReleased"))
	}).Should(Succeed())
}

// TestPostmortemRepositoryReadiness: Ready says what is missing, names the Secret and
// key, never a value, and turns True by itself when the Secret is fixed.
func TestPostmortemRepositoryReadiness(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)

	ssh := &klaxonv1.PostmortemRepository{ObjectMeta: metav1.ObjectMeta{Name: "over-ssh", Namespace: ns},
		Spec: klaxonv1.PostmortemRepositorySpec{URL: "ssh://git@127.0.0.1:1/records.git",
			SecretRef: &klaxonv1.SecretReference{Name: "git-creds"}}}
	g.Expect(k8sClient.Create(ctx, ssh)).To(Succeed())
	expectNotReady(g, ssh, klaxonv1.ReasonSecretNotFound, "Secret "+ns+"/git-creds not found")
	g.Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git-creds", Namespace: ns},
		Data: map[string][]byte{klaxonv1.SecretKeySSHPrivateKey: []byte("not-a-real-key-but-present")}})).To(Succeed())
	expectNotReady(g, ssh, klaxonv1.ReasonSecretKeyMissing, `"known_hosts"`)

	remote := initBareRemote(t, filepath.Join(t.TempDir(), "signed.git"))
	signed := postmortemRepository(ns, "signed", remote)
	signed.Spec.Sign, signed.Spec.SecretRef = true, &klaxonv1.SecretReference{Name: "signing"}
	g.Expect(k8sClient.Create(ctx, signed)).To(Succeed())
	expectNotReady(g, signed, klaxonv1.ReasonSecretNotFound, "signing")
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "signing", Namespace: ns},
		Data: map[string][]byte{klaxonv1.SecretKeySigningKey: []byte("-----BEGIN PGP PRIVATE KEY BLOCK-----\nsecret-garbage\n")}}
	g.Expect(k8sClient.Create(ctx, secret)).To(Succeed())
	expectNotReady(g, signed, klaxonv1.ReasonInvalidSecret, "signingKey")
	g.Expect(readyCondition(g, signed).Message).NotTo(ContainSubstring("secret-garbage"), "values never reach a condition")
	secret.Data[klaxonv1.SecretKeySigningKey] = armoredSigningKey(t)
	g.Expect(k8sClient.Update(ctx, secret)).To(Succeed())
	expectReady(g, signed)

	bad := postmortemRepository(ns, "bad-template", remote)
	bad.Spec.PathTemplate = "{{ range .Name }}x{{ end }}"
	g.Expect(k8sClient.Create(ctx, bad)).To(Succeed())
	expectNotReady(g, bad, klaxonv1.ReasonInvalidSpec, "spec.pathTemplate")
	g.Expect(meta.IsStatusConditionTrue(bad.Status.Conditions, klaxonv1.ConditionStalled)).To(BeTrue())
}

// armoredSigningKey is an OpenPGP private key as a Secret's signingKey holds it.
func armoredSigningKey(t *testing.T) []byte {
	t.Helper()
	e, err := openpgp.NewEntity("Klaxon Test", "", "klaxon@example.invalid",
		&packet.Config{Algorithm: packet.PubKeyAlgoEdDSA, Curve: packet.Curve25519})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w, err := armor.Encode(&b, openpgp.PrivateKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.SerializePrivate(w, nil); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return b.Bytes()
}

// TestPostmortemRetention drives the post-mortem reconciler itself on an injected clock
// (the suite's manager does not see this incident), with the repository in a provider
// namespace of the test's own: a committed incident is deleted once the retention has
// passed since it resolved, never a second before, and reconciling in between commits
// nothing.
func TestPostmortemRetention(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	tenant, provider := newNamespace(t), newNamespace(t)
	remote := initBareRemote(t, filepath.Join(t.TempDir(), "records.git"))
	pmr := postmortemRepository(provider, "records", remote)
	pmr.Spec.Retention = &metav1.Duration{Duration: time.Hour}
	g.Expect(directClient.Create(ctx, pmr)).To(Succeed())

	resolvedAt := time.Date(2031, 5, 17, 9, 30, 0, 0, time.UTC)
	now := resolvedAt.Add(time.Minute)
	clock := func() time.Time { return now }
	key := client.ObjectKey{Namespace: tenant, Name: "retained"}
	inc := &klaxonv1.Incident{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace, Labels: map[string]string{directLabel: "true"}},
		Spec: klaxonv1.IncidentSpec{Title: "queue backlog", Severity: klaxonv1.SEV3, State: klaxonv1.StateResolved, RootCause: "a stuck consumer"}}
	g.Expect(directClient.Create(ctx, inc)).To(Succeed())
	// What the incident controller would have written.
	inc.Status = klaxonv1.IncidentStatus{ObservedGeneration: inc.Generation, State: klaxonv1.StateResolved,
		TriggeredAt: &metav1.Time{Time: resolvedAt.Add(-time.Hour)}, ResolvedAt: &metav1.Time{Time: resolvedAt},
		Timeline: []klaxonv1.TimelineEntry{
			{Time: metav1.Time{Time: resolvedAt.Add(-time.Hour)}, Type: "Triggered", Actor: "klaxon", Message: "opened"},
			{Time: metav1.Time{Time: resolvedAt}, Type: "Resolved", Actor: "bob", Message: "resolved"}}}
	g.Expect(directClient.Status().Update(ctx, inc)).To(Succeed())

	r := &PostmortemReconciler{Client: directClient, APIReader: directClient, Recorder: &events.FakeRecorder{},
		Repos:  &repositories{secrets: directClient, registry: postmortem.NewRegistry(t.TempDir()), now: clock},
		Engine: engine, SystemNamespace: provider, Now: clock}
	t.Cleanup(func() { r.Repos.registry.Close() })
	reconcileAt := func(at time.Time) reconcile.Result {
		now = at
		res, err := r.Reconcile(ctx, reconcile.Request{NamespacedName: key})
		g.Expect(err).NotTo(HaveOccurred())
		return res
	}

	res := reconcileAt(resolvedAt.Add(time.Minute))
	for i := 0; i < 5 && res.RequeueAfter < time.Second; i++ { // a conflict or a finalizer write comes back at once
		res = reconcileAt(resolvedAt.Add(time.Minute))
	}
	g.Expect(res.RequeueAfter).To(Equal(59*time.Minute), "back exactly when the retention ends")
	g.Expect(directClient.Get(ctx, key, inc)).To(Succeed())
	g.Expect(postmortemCondition(inc).Status).To(Equal(metav1.ConditionTrue))
	g.Expect(inc.Status.Postmortem.Repository).To(Equal(provider+"/records"), "the provider's repository serves a tenant without one")
	g.Expect(inc.Finalizers).NotTo(ContainElement(klaxonv1.FinalizerPostmortem))
	g.Expect(gitCmd(t, remote, "show", "main:postmortems/2031/"+tenant+"/retained.md")).To(ContainSubstring("rootCause: a stuck consumer"))
	g.Expect(inc.Status.Postmortem.CommittedAt.Time).To(BeTemporally("==", resolvedAt.Add(time.Minute)), "the injected clock stamps it")

	for _, at := range []time.Duration{30 * time.Minute, time.Hour - time.Second} {
		res = reconcileAt(resolvedAt.Add(at))
		g.Expect(directClient.Get(ctx, key, &klaxonv1.Incident{})).To(Succeed(), "never deleted early (at +%s)", at)
		g.Expect(res.RequeueAfter).To(Equal(time.Hour-at), fmt.Sprintf("at +%s", at))
	}
	g.Expect(commitCount(t, remote)).To(Equal(1), "reconciling a committed incident commits nothing")

	reconcileAt(resolvedAt.Add(time.Hour))
	g.Expect(apierrors.IsNotFound(directClient.Get(ctx, key, &klaxonv1.Incident{}))).To(BeTrue(), "deleted once the retention has passed")
	g.Expect(commitCount(t, remote)).To(Equal(1))
}

// gitHTTPServer serves the bare repositories under root through `git http-backend`
// behind basic auth, and answers 503 while down is set.
func gitHTTPServer(t *testing.T, root, user, password string, down *atomic.Bool) *httptest.Server {
	t.Helper()
	backend := filepath.Join(strings.TrimSpace(gitCmd(t, "", "--exec-path")), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git-http-backend is required: %v (apt-get install -y git)", err)
	}
	h := &cgi.Handler{Path: backend, Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1",
		"REMOTE_USER=" + user, "GIT_CONFIG_NOSYSTEM=1", "HOME=" + root}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		if u, p, ok := r.BasicAuth(); !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestPostmortemRemoteDownThenBack: an http remote that answers 503 makes the record
// wait as RemoteUnavailable, retried soon; it lands once the remote is back, pushed
// with the credentials of the repository's Secret, which no condition or event shows.
func TestPostmortemRemoteDownThenBack(t *testing.T) {
	g := NewWithT(t)
	ctx := context.Background()
	ns := newNamespace(t)
	root := t.TempDir()
	remote := initBareRemote(t, filepath.Join(root, "records.git"))
	const password = "s3cret-push-token"
	var down atomic.Bool
	down.Store(true)
	srv := gitHTTPServer(t, root, "klaxon", password, &down)

	g.Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "git-http", Namespace: ns},
		Data: map[string][]byte{klaxonv1.SecretKeyUsername: []byte("klaxon"), klaxonv1.SecretKeyPassword: []byte(password)}})).To(Succeed())
	pmr := &klaxonv1.PostmortemRepository{ObjectMeta: metav1.ObjectMeta{Name: "records", Namespace: ns},
		Spec: klaxonv1.PostmortemRepositorySpec{URL: srv.URL + "/records.git", SecretRef: &klaxonv1.SecretReference{Name: "git-http"}}}
	g.Expect(k8sClient.Create(ctx, pmr)).To(Succeed())
	expectNotReady(g, pmr, postmortem.Transient.String(), "503")

	createIncident(g, ns, "flaky")
	resolve(g, ns, "flaky", "the load balancer")
	g.Eventually(func(g Gomega) {
		c := postmortemCondition(getIncident(g, ns, "flaky"))
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(metav1.ConditionFalse))
		g.Expect(c.Reason).To(Equal(postmortem.Transient.String()))
	}, 20*time.Second, 100*time.Millisecond).Should(Succeed())
	g.Consistently(func() int { return commitCount(t, remote) }, 2*time.Second, 200*time.Millisecond).Should(BeZero())

	down.Store(false)
	inc := committedIncident(g, ns, "flaky", 30*time.Second)
	g.Expect(commitCount(t, remote)).To(Equal(1))
	g.Expect(inc.Status.Postmortem.Commit).To(Equal(strings.TrimSpace(gitCmd(t, remote, "rev-parse", "main"))))
	var evs eventsv1.EventList
	g.Expect(k8sClient.List(ctx, &evs, client.InNamespace(ns))).To(Succeed())
	for _, e := range evs.Items {
		g.Expect(e.Note).NotTo(ContainSubstring(password))
	}
	for _, c := range append(inc.Status.Conditions, *readyCondition(g, pmr)) {
		g.Expect(c.Message).NotTo(ContainSubstring(password))
	}
}
