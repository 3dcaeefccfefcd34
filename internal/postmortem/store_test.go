package postmortem

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

func openTestStore(t *testing.T, dir string, clock *fixedClock) *Store {
	t.Helper()
	s, err := OpenStore(dir, StoreOptions{Author: v1alpha1.Author{Name: "Klaxon", Email: "klaxon@example.invalid"}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestStoreCommitsFromObjects(t *testing.T) {
	dir := newBareRemote(t)
	seed(t, dir, "main", map[string]string{
		"README.md":                       "post-mortems\n",
		"postmortems/2025/acme/old.md":    "old record\n",
		"postmortems/2025/globex/gone.md": "another\n",
	})
	clock := newClock()
	s := openTestStore(t, dir, clock)
	before := revParse(t, dir, "main")

	res, err := s.Commit("main", []Change{change("postmortems/2026/acme/db-leak.md", "v1\n")})
	if err != nil {
		t.Fatal(err)
	}
	if !res[0].Committed || res[0].Commit == "" {
		t.Fatalf("first commit: %+v", res[0])
	}
	if got := revParse(t, dir, "main"); got != res[0].Commit {
		t.Fatalf("main is %s, want %s", got, res[0].Commit)
	}
	if got := revParse(t, dir, "main^"); got != before {
		t.Errorf("parent is %s, want the previous head %s", got, before)
	}
	if got := show(t, dir, "main", "postmortems/2026/acme/db-leak.md"); got != "v1\n" {
		t.Errorf("content %q", got)
	}
	// The other files are untouched: the commit only adds the record.
	if got := runGit(t, dir, "diff-tree", "--no-commit-id", "--name-status", "-r", "main"); got != "A\tpostmortems/2026/acme/db-leak.md\n" {
		t.Errorf("diff-tree: %q", got)
	}
	if got := runGit(t, dir, "log", "-1", "--format=%an <%ae> %at%n%s", "main"); got != fmt.Sprintf("Klaxon <klaxon@example.invalid> %d\nrecord postmortems/2026/acme/db-leak.md\n", clock.t.Unix()) {
		t.Errorf("log: %q", got)
	}

	// The same content again is a no-op that names the commit that wrote it.
	clock.t = clock.t.Add(time.Minute)
	again, err := s.Commit("main", []Change{change("postmortems/2026/acme/db-leak.md", "v1\n")})
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Committed || again[0].Commit != res[0].Commit {
		t.Errorf("re-commit of identical content: %+v, want no commit and %s", again[0], res[0].Commit)
	}
	if n := commitCount(t, dir, "main"); n != 2 {
		t.Errorf("%d commits, want 2", n)
	}

	// An edit (root cause filled in later) is a new version of the same file.
	edited, err := s.Commit("main", []Change{change("postmortems/2026/acme/db-leak.md", "v2\n")})
	if err != nil {
		t.Fatal(err)
	}
	if !edited[0].Committed || edited[0].Commit == res[0].Commit {
		t.Fatalf("edit: %+v", edited[0])
	}
	if got := show(t, dir, "main", "postmortems/2026/acme/db-leak.md"); got != "v2\n" {
		t.Errorf("content after edit %q", got)
	}
	if got := show(t, dir, "main~1", "postmortems/2026/acme/db-leak.md"); got != "v1\n" {
		t.Errorf("history lost the first version: %q", got)
	}
	fsck(t, dir)
}

func TestStoreFindsTheCommitThatWroteAnUnchangedFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache.git")
	s := openTestStore(t, dir, newClock())
	a, err := s.Commit("main", []Change{change("a.md", "a\n")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit("main", []Change{change("b.md", "b\n"), change("c.md", "c\n")}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Commit("main", []Change{change("a.md", "a\n")})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Committed || got[0].Commit != a[0].Commit {
		t.Errorf("unchanged a.md: %+v, want its commit %s", got[0], a[0].Commit)
	}
	// A known commit that holds the file is taken as is.
	known := Change{Path: "a.md", Content: []byte("a\n"), KnownCommit: a[0].Commit}
	got, err = s.Commit("main", []Change{known})
	if err != nil || got[0].Commit != a[0].Commit {
		t.Errorf("with known commit: %+v, %v", got, err)
	}
	// A known commit that does not hold this content is ignored.
	known.KnownCommit = strings.Repeat("0", 39) + "1"
	got, err = s.Commit("main", []Change{known})
	if err != nil || got[0].Commit != a[0].Commit {
		t.Errorf("with a wrong known commit: %+v, %v", got, err)
	}
	// Within one batch, a file written twice with the same content is one commit.
	batch, err := s.Commit("main", []Change{change("d.md", "d\n"), change("d.md", "d\n")})
	if err != nil {
		t.Fatal(err)
	}
	if !batch[0].Committed || batch[1].Committed || batch[1].Commit != batch[0].Commit {
		t.Errorf("batch with a duplicate: %+v", batch)
	}
	fsck(t, dir)
}

func TestStoreTreeOrderIsGits(t *testing.T) {
	// Git sorts a directory as if its name ended in "/": "a.b" < "a/" < "a0". A tree in
	// any other order fails fsck.
	dir := filepath.Join(t.TempDir(), "cache.git")
	s := openTestStore(t, dir, newClock())
	var changes []Change
	for _, p := range []string{"a/x.md", "a.b", "a0", "a-b/y.md", "a/z/w.md", "a_", "A", "b.md", "a/x.md.bak"} {
		changes = append(changes, change(p, p+"\n"))
	}
	if _, err := s.Commit("main", changes); err != nil {
		t.Fatal(err)
	}
	fsck(t, dir)
	if got := runGit(t, dir, "ls-tree", "-r", "--name-only", "main"); got != "A\na-b/y.md\na.b\na/x.md\na/x.md.bak\na/z/w.md\na0\na_\nb.md\n" {
		t.Errorf("ls-tree:\n%s", got)
	}
}

func TestStoreRefusesPathConflicts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache.git")
	s := openTestStore(t, dir, newClock())
	if _, err := s.Commit("main", []Change{change("postmortems/2026", "a file\n")}); err != nil {
		t.Fatal(err)
	}
	head, _ := s.Head("main")
	if _, err := s.Commit("main", []Change{change("postmortems/2026/acme/x.md", "x\n")}); err == nil {
		t.Error("a record under a path that is a file was committed")
	}
	if _, err := s.Commit("main", []Change{change("postmortems", "x\n")}); err == nil {
		t.Error("a record replacing a directory was committed")
	}
	for _, bad := range []string{"../escape.md", "/abs.md", "a//b.md", ".git/config", "a/./b.md", ""} {
		if _, err := s.Commit("main", []Change{change(bad, "x\n")}); err == nil {
			t.Errorf("path %q was accepted", bad)
		}
	}
	if got, _ := s.Head("main"); got != head {
		t.Error("a refused change moved the branch")
	}
	fsck(t, dir)
}

func TestStoreDirectoryIsExclusive(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache.git")
	openTestStore(t, dir, newClock())
	if _, err := OpenStore(dir, StoreOptions{}); !errors.Is(err, ErrCacheInUse) {
		t.Errorf("second open: %v, want ErrCacheInUse", err)
	}
}

// TestPacksStayFew pushes record after record through a Repository: each batch is one
// pack in the cache, and small packs are merged so that their number stays bounded,
// the pack the first fetch brought is never rewritten, and every record stays readable.
func TestPacksStayFew(t *testing.T) {
	remote := newBareRemote(t)
	files := map[string]string{}
	for i := range 2000 {
		files[fmt.Sprintf("postmortems/2025/t%d/old-%d.md", i%20, i)] = fmt.Sprintf("old %d\n", i)
	}
	seed(t, remote, "main", files)
	r := openRepo(t, Options{URL: fileURL(remote)})
	r.store.maxPacks = 8
	if err := r.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	dir := r.Store().Dir()
	basePack, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack"))
	const n = 100
	for i := range n {
		commitOne(t, r, change(fmt.Sprintf("postmortems/2026/t%d/r%d.md", i%5, i), fmt.Sprintf("record %d\n", i)))
		packs, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack"))
		if len(packs) > r.store.maxPacks+1 {
			t.Fatalf("after %d records: %d packs", i+1, len(packs))
		}
	}
	if loose, _ := filepath.Glob(filepath.Join(dir, "objects", "??", "*")); len(loose) != 0 {
		t.Errorf("%d loose objects; batches should write packs", len(loose))
	}
	if err := r.Maintain(); err != nil {
		t.Fatal(err)
	}
	if packs, _ := filepath.Glob(filepath.Join(dir, "objects", "pack", "*.pack")); len(packs) > 8 {
		t.Errorf("%d packs after Maintain", len(packs))
	}
	if _, err := os.Stat(basePack[0]); err != nil {
		t.Errorf("the pack of the first fetch was rewritten: %v", err)
	}
	for i := range n {
		p := fmt.Sprintf("postmortems/2026/t%d/r%d.md", i%5, i)
		if got := show(t, dir, "main", p); got != fmt.Sprintf("record %d\n", i) {
			t.Fatalf("record %d in the cache: %q", i, got)
		}
	}
	// The merged packs are what the cache reads: committing again is a no-op.
	if res := commitOne(t, r, change("postmortems/2026/t0/r0.md", "record 0\n")); res.Committed {
		t.Errorf("re-commit after merges: %+v", res)
	}
	if c := commitCount(t, remote, "main"); c != n+1 {
		t.Errorf("%d commits on the remote, want %d", c, n+1)
	}
	fsck(t, dir)
	fsck(t, remote)
}
