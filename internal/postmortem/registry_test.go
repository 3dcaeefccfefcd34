package postmortem

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// TestRegistryReopensOnNewVersion: one Repository per key and version; a new version
// closes the old one, a new URL gets a cache of its own and the old cache goes.
func TestRegistryReopensOnNewVersion(t *testing.T) {
	reg := NewRegistry(t.TempDir())
	t.Cleanup(func() { reg.Close() })
	remoteA, remoteB := newBareRemote(t), newBareRemote(t)
	opener := func(url string) func(string) (Options, error) {
		return func(string) (Options, error) {
			return Options{URL: url, Author: v1alpha1.Author{Name: "Klaxon", Email: "klaxon@example.invalid"}}, nil
		}
	}

	// Concurrent first opens share one Repository (and one cache lock).
	var wg sync.WaitGroup
	repos := make([]*Repository, 4)
	errs := make([]error, 4)
	for i := range repos {
		wg.Add(1)
		go func() {
			defer wg.Done()
			repos[i], errs[i] = reg.Open("acme/records", "v1", fileURL(remoteA), opener(fileURL(remoteA)))
		}()
	}
	wg.Wait()
	for i := range repos {
		if errs[i] != nil || repos[i] != repos[0] {
			t.Fatalf("open %d: %v (same repository: %v)", i, errs[i], repos[i] == repos[0])
		}
	}
	first := repos[0]
	commitOne(t, first, change("postmortems/a.md", "a\n"))
	dirA := first.Store().Dir()

	again, err := reg.Open("acme/records", "v1", fileURL(remoteA), func(string) (Options, error) {
		t.Fatal("an open repository of the same version is not opened again")
		return Options{}, nil
	})
	if err != nil || again != first {
		t.Fatalf("same version: %v, same repository %v", err, again == first)
	}

	// A new version (a rotated Secret, say) reopens in the same cache.
	second, err := reg.Open("acme/records", "v2", fileURL(remoteA), opener(fileURL(remoteA)))
	if err != nil || second == first || second.Store().Dir() != dirA {
		t.Fatalf("v2: %v, new repository %v, dir %s", err, second != first, second.Store().Dir())
	}
	if _, err := first.Commit(t.Context(), []Change{change("postmortems/b.md", "b\n")}); !errors.Is(err, ErrClosed) {
		t.Errorf("the old version is closed: %v", err)
	}

	// A new URL gets a new cache; the old one is removed.
	third, err := reg.Open("acme/records", "v3", fileURL(remoteB), opener(fileURL(remoteB)))
	if err != nil || third.Store().Dir() == dirA {
		t.Fatalf("v3: %v, dir %s", err, third.Store().Dir())
	}
	if _, err := os.Stat(dirA); !os.IsNotExist(err) {
		t.Errorf("the cache of the old URL is still there: %v", err)
	}
	commitOne(t, third, change("postmortems/c.md", "c\n"))
	if show(t, remoteB, "main", "postmortems/c.md") != "c\n" {
		t.Error("the record did not reach the new remote")
	}

	// Remove closes and deletes every cache of the key.
	if err := reg.Remove("acme/records"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(third.Store().Dir())); !os.IsNotExist(err) {
		t.Errorf("the key's caches are still there: %v", err)
	}
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Open("acme/records", "v4", fileURL(remoteB), opener(fileURL(remoteB))); !errors.Is(err, ErrClosed) {
		t.Errorf("open after close: %v", err)
	}
}

// TestRegistryTemporaryRoot: without a directory, the caches go to a temporary one that
// exists only once something is opened, and Close removes it.
func TestRegistryTemporaryRoot(t *testing.T) {
	reg := NewRegistry("")
	if reg.Root() != "" {
		t.Fatalf("a temporary root before any open: %s", reg.Root())
	}
	if err := reg.Remove("acme/records"); err != nil {
		t.Fatalf("remove before any open: %v", err)
	}
	remote := newBareRemote(t)
	repo, err := reg.Open("acme/records", "v1", fileURL(remote), func(string) (Options, error) {
		return Options{URL: fileURL(remote), Author: v1alpha1.Author{Name: "Klaxon", Email: "klaxon@example.invalid"}}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	root := reg.Root()
	if root == "" || !strings.HasPrefix(repo.Store().Dir(), root) {
		t.Fatalf("root %q, cache %s", root, repo.Store().Dir())
	}
	commitOne(t, repo, change("postmortems/a.md", "a\n"))
	if err := reg.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(root); !os.IsNotExist(err) {
		t.Errorf("the temporary root outlived Close: %v", err)
	}
}
