package postmortem

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

func openRepo(t *testing.T, opts Options) *Repository {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = filepath.Join(t.TempDir(), "cache")
	}
	if opts.Author.Email == "" {
		opts.Author = v1alpha1.Author{Name: "Klaxon", Email: "klaxon@example.invalid"}
	}
	r, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func commitOne(t *testing.T, r *Repository, ch Change) Result {
	t.Helper()
	res, err := r.Commit(context.Background(), []Change{ch})
	if err != nil {
		t.Fatal(err)
	}
	return res[0]
}

func TestRepositoryCommitsToAFileRemote(t *testing.T) {
	remote := newBareRemote(t)
	r := openRepo(t, Options{URL: fileURL(remote)})

	// An empty remote gets a root commit on main.
	first := commitOne(t, r, change("postmortems/2026/acme/a.md", "a v1\n"))
	if !first.Committed || revParse(t, remote, "main") != first.Commit {
		t.Fatalf("first record: %+v; remote main at %s", first, revParse(t, remote, "main"))
	}
	// Committing again is a no-op; no push either.
	again := commitOne(t, r, change("postmortems/2026/acme/a.md", "a v1\n"))
	if again.Committed || again.Commit != first.Commit {
		t.Errorf("re-commit: %+v", again)
	}
	if n := pushCount(t, remote, "main"); n != 1 {
		t.Errorf("%d pushes, want 1", n)
	}
	// An edit lands as a new version.
	edit := commitOne(t, r, change("postmortems/2026/acme/a.md", "a v2\n"))
	if !edit.Committed || show(t, remote, "main", "postmortems/2026/acme/a.md") != "a v2\n" {
		t.Errorf("edit: %+v", edit)
	}
	if got := revParse(t, remote, "main~1"); got != first.Commit {
		t.Errorf("the edit's parent is %s, want %s", got, first.Commit)
	}
	if got := revParse(t, r.Store().Dir(), "refs/heads/main"); got != edit.Commit {
		t.Errorf("cache main at %s, want %s", got, edit.Commit)
	}
	fsck(t, remote)
	fsck(t, r.Store().Dir())

	// A new cache (the controller's volume was lost) finds the record in place.
	fresh := openRepo(t, Options{URL: fileURL(remote)})
	got := commitOne(t, fresh, change("postmortems/2026/acme/a.md", "a v2\n"))
	if got.Committed || got.Commit != edit.Commit {
		t.Errorf("from a new cache: %+v, want no commit and %s", got, edit.Commit)
	}
}

func TestRepositoryBuildsOnExistingHistory(t *testing.T) {
	remote := newBareRemote(t)
	seed(t, remote, "records", map[string]string{"README.md": "records\n", "postmortems/2025/x/y.md": "y\n"})
	before := revParse(t, remote, "records")
	r := openRepo(t, Options{URL: fileURL(remote), Branch: "records"})
	res := commitOne(t, r, change("postmortems/2026/acme/a.md", "a\n"))
	if got := revParse(t, remote, "records^"); got != before {
		t.Errorf("parent %s, want %s", got, before)
	}
	if show(t, remote, res.Commit, "README.md") != "records\n" {
		t.Error("existing files lost")
	}
	fsck(t, remote)
}

// TestConcurrentWritersBothLand runs two caches (two controllers, or a controller and
// its successor) against one remote, each committing records from several goroutines.
// Pushes race; every loser fetches, rebuilds on the winner and pushes again.
func TestConcurrentWritersBothLand(t *testing.T) {
	remote := newBareRemote(t)
	seed(t, remote, "main", map[string]string{"README.md": "records\n"})
	writers := []*Repository{openRepo(t, Options{URL: fileURL(remote)}), openRepo(t, Options{URL: fileURL(remote)})}
	const perWriter = 12
	var wg sync.WaitGroup
	errs := make(chan error, 2*perWriter)
	for w, repo := range writers {
		for i := range perWriter {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := fmt.Sprintf("postmortems/2026/tenant-%d/incident-%d.md", w, i)
				res, err := repo.Commit(context.Background(), []Change{change(p, p+"\n")})
				if err == nil && !res[0].Committed {
					err = fmt.Errorf("%s: not committed", p)
				}
				if err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	files := strings.Fields(runGit(t, remote, "ls-tree", "-r", "--name-only", "main"))
	if len(files) != 2*perWriter+1 {
		t.Errorf("%d files on main, want %d", len(files), 2*perWriter+1)
	}
	if n := commitCount(t, remote, "main"); n != 2*perWriter+1 {
		t.Errorf("%d commits, want %d (one per record and the seed)", n, 2*perWriter+1)
	}
	// Linear history: every record is a commit on top of the previous one.
	if merges := runGit(t, remote, "rev-list", "--merges", "main"); merges != "" {
		t.Errorf("merge commits: %s", merges)
	}
	t.Logf("%d records in %d pushes", 2*perWriter, pushCount(t, remote, "main")-1)
	fsck(t, remote)
}

// TestRecordsArrivingTogetherShareAPush sends many records at once through one
// Repository: they go out in fewer pushes than records.
func TestRecordsArrivingTogetherShareAPush(t *testing.T) {
	remote := newBareRemote(t)
	r := openRepo(t, Options{URL: fileURL(remote)})
	const n = 40
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			p := fmt.Sprintf("postmortems/2026/acme/incident-%02d.md", i)
			if _, err := r.Commit(context.Background(), []Change{change(p, p+"\n")}); err != nil {
				t.Error(err)
			}
		}()
	}
	close(start)
	wg.Wait()
	pushes := pushCount(t, remote, "main")
	if got := commitCount(t, remote, "main"); got != n {
		t.Errorf("%d commits, want %d", got, n)
	}
	if pushes >= n {
		t.Errorf("%d records took %d pushes; records that arrive together should share one", n, pushes)
	}
	t.Logf("%d records in %d pushes", n, pushes)
	fsck(t, remote)
}

func TestBatchWithOneBadChange(t *testing.T) {
	remote := newBareRemote(t)
	r := openRepo(t, Options{URL: fileURL(remote)})
	commitOne(t, r, change("postmortems/2026", "a file where a directory would go\n"))
	res, err := r.Commit(context.Background(), []Change{change("postmortems/2026/acme/x.md", "x\n")})
	if err == nil || KindOf(err) != Permanent {
		t.Errorf("conflicting path: %v, %v; want a Permanent error", res, err)
	}
	ok := commitOne(t, r, change("postmortems/2027.md", "fine\n"))
	if !ok.Committed {
		t.Error("a good change after a bad one did not land")
	}
	fsck(t, remote)
}

// TestRemoteDownThenBack moves the remote away (as a file remote that is unreachable)
// and back: the record lands once, when it returns.
func TestRemoteDownThenBack(t *testing.T) {
	remote := newBareRemote(t)
	seed(t, remote, "main", map[string]string{"README.md": "x\n"})
	r := openRepo(t, Options{URL: fileURL(remote)})
	commitOne(t, r, change("a.md", "a\n"))

	away := remote + ".away"
	if err := os.Rename(remote, away); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		_, err := r.Commit(context.Background(), []Change{change("b.md", "b\n")})
		if err == nil {
			t.Fatal("commit to a missing remote succeeded")
		}
		t.Logf("remote away: %v (kind %s)", err, KindOf(err))
	}
	if err := os.Rename(away, remote); err != nil {
		t.Fatal(err)
	}
	res := commitOne(t, r, change("b.md", "b\n"))
	if !res.Committed || show(t, remote, "main", "b.md") != "b\n" {
		t.Errorf("after the remote returned: %+v", res)
	}
	if n := commitCount(t, remote, "main"); n != 3 {
		t.Errorf("%d commits, want 3: the failed attempts left nothing behind", n)
	}
	fsck(t, remote)
}

func TestCommitAfterContextCancel(t *testing.T) {
	remote := newBareRemote(t)
	r := openRepo(t, Options{URL: fileURL(remote)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.Commit(ctx, []Change{change("a.md", "a\n")}); err == nil {
		t.Error("commit with a cancelled context succeeded")
	}
	// The repository still works.
	commitOne(t, r, change("a.md", "a\n"))
	other := change("b.md", "b\n")
	other.Branch = "elsewhere"
	if _, err := r.Commit(context.Background(), []Change{other}); err == nil || KindOf(err) != Permanent {
		t.Errorf("commit to a branch the repository does not track: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Commit(context.Background(), []Change{change("b.md", "b\n")}); err != ErrClosed {
		t.Errorf("commit after close: %v", err)
	}
}

func TestPrepareAndFullRecord(t *testing.T) {
	remote := newBareRemote(t)
	r := openRepo(t, Options{URL: fileURL(remote)})
	red, err := NewRedactor(v1alpha1.Redaction{Fields: []string{"**.customer"}})
	if err != nil {
		t.Fatal(err)
	}
	rec := fixtureRecord(t)
	ch, err := r.Prepare(rec, red)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Path != "postmortems/2026/acme/checkout-db-leak.md" {
		t.Errorf("path %q", ch.Path)
	}
	res := commitOne(t, r, ch)
	content := show(t, remote, res.Commit, ch.Path)
	if content != string(ch.Content) {
		t.Error("the committed file differs from the rendered record")
	}
	for _, leak := range []string{"Sup3rS3cretPassw0rd", "jane.doe@acme.example", "ACME Retail GmbH", "7946 0958"} {
		if strings.Contains(content, leak) {
			t.Errorf("%q reached git", leak)
		}
	}
	msg := runGit(t, remote, "log", "-1", "--format=%B", res.Commit)
	if !strings.Contains(msg, "Klaxon-Incident: acme/checkout-db-leak") || !strings.HasPrefix(msg, "postmortem(acme/checkout-db-leak): ") {
		t.Errorf("commit message:\n%s", msg)
	}
	back, err := ParseRecord([]byte(content))
	if err != nil || back.Incident.UID != rec.Incident.UID {
		t.Errorf("parse back: %v", err)
	}
	// Rendering the same incident again commits nothing.
	ch.KnownCommit = res.Commit
	if again := commitOne(t, r, ch); again.Committed || again.Commit != res.Commit {
		t.Errorf("re-reconcile: %+v", again)
	}
}

func TestOpenRefusesBadConfiguration(t *testing.T) {
	for name, opts := range map[string]Options{
		"scheme":             {URL: "ftp://example.invalid/repo.git"},
		"credentials inURL":  {URL: "https://user:pass@example.invalid/repo.git"},
		"relative file":      {URL: "file://relative/path"},
		"ssh without keys":   {URL: "ssh://git@example.invalid/repo.git"},
		"branch":             {URL: "file:///tmp/x.git", Branch: "a..b"},
		"mode":               {URL: "file:///tmp/x.git", Mode: "Sideways"},
		"template":           {URL: "file:///tmp/x.git", PathTemplate: "{{ range 1000000000 }}x{{ end }}"},
		"sign without key":   {URL: "file:///tmp/x.git", Sign: true},
		"password over http": {URL: "http://git.example.invalid/x.git", Credentials: Credentials{Password: "pass@"}},
	} {
		opts.Dir = filepath.Join(t.TempDir(), "cache")
		r, err := Open(opts)
		if err == nil {
			r.Close()
			t.Errorf("%s: opened", name)
			continue
		}
		if KindOf(err) != Permanent {
			t.Errorf("%s: kind %s, want Permanent (%v)", name, KindOf(err), err)
		}
		if strings.Contains(err.Error(), "pass@") {
			t.Errorf("%s: error shows credentials: %v", name, err)
		}
	}
}

func TestCredentialsDoNotFormat(t *testing.T) {
	c := CredentialsFromSecret(map[string][]byte{"username": []byte("u"), "password": []byte("hunter2"), "identity": []byte("KEY")})
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %#v %s", c, c, c, c), fmt.Sprintf("%+v", Options{Credentials: c})} {
		if strings.Contains(s, "hunter2") || strings.Contains(s, "KEY") {
			t.Errorf("credentials formatted: %s", s)
		}
	}
}

// TestStaleCacheRebuildsOnTheNewHead makes the cache's view of the remote stale on
// purpose: another writer pushes in between, then the remote's history is even replaced
// by a force-push. Each time the push finds the branch moved, fetches, rebuilds the
// record's commit on the new head and lands.
func TestStaleCacheRebuildsOnTheNewHead(t *testing.T) {
	remote := newBareRemote(t)
	a := openRepo(t, Options{URL: fileURL(remote)})
	b := openRepo(t, Options{URL: fileURL(remote)})
	commitOne(t, a, change("a.md", "a\n"))
	commitOne(t, b, change("b.md", "b\n")) // b fetches a's commit first: no conflict yet
	fromA := commitOne(t, a, change("c.md", "c\n"))
	fromB := commitOne(t, b, change("d.md", "d\n")) // b's view is stale by one commit
	if got := revParse(t, remote, fromB.Commit+"^"); got != fromA.Commit {
		t.Errorf("b's record was built on %s, want a's %s", got, fromA.Commit)
	}

	// Someone replaces the branch with an unrelated history.
	seed(t, remote, "replacement", map[string]string{"README.md": "new history\n"})
	runGit(t, remote, "update-ref", "refs/heads/main", "refs/heads/replacement")
	e := commitOne(t, a, change("e.md", "e\n"))
	if got := revParse(t, remote, "main^"); got != revParse(t, remote, "replacement") {
		t.Errorf("after the force-push the record sits on %s", got)
	}
	if revParse(t, remote, "main") != e.Commit {
		t.Error("record did not land on the replaced branch")
	}
	fsck(t, remote)
}
