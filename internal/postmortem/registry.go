package postmortem

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// Registry keeps one open Repository per PostmortemRepository, so that every record
// of a repository goes through one cache and one batching queue. An entry is reopened
// when its version changes (the controller derives the version from the object's
// generation and its Secrets' resourceVersions), so an edited spec or a rotated Secret
// takes effect at the next commit. It is safe for concurrent use.
type Registry struct {
	root      string
	temporary bool // root is made at the first Open and removed by Close

	mu      sync.Mutex
	entries map[string]*registryEntry
	opening map[string]*sync.Mutex
	closed  bool
}

type registryEntry struct {
	version string
	dir     string
	repo    *Repository
}

// NewRegistry returns a registry whose caches live under root, one directory per
// PostmortemRepository and remote URL. With root empty they live in a temporary
// directory, made when the first repository is opened and removed by Close.
func NewRegistry(root string) *Registry {
	return &Registry{root: root, entries: map[string]*registryEntry{}, opening: map[string]*sync.Mutex{}}
}

// Root is the directory the caches live under; empty for a temporary one not made yet.
func (r *Registry) Root() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.root
}

// Open returns the Repository of key ("namespace/name") at version. When none is open,
// or the open one has another version, it calls options with the cache directory for
// url and opens what it returns; a repository of an older version is closed (after its
// batch in progress) and, when it used another URL, its cache is removed.
func (r *Registry) Open(key, version, url string, options func(dir string) (Options, error)) (*Repository, error) {
	// One opener per key at a time: two Opens of one cache would contend for its lock.
	// Other keys go on; closing an old version may wait for a batch on a slow remote.
	unlock := r.lockKey(key)
	defer unlock()

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, ErrClosed
	}
	if r.root == "" {
		tmp, err := os.MkdirTemp("", "klaxon-postmortems-")
		if err != nil {
			r.mu.Unlock()
			return nil, fmt.Errorf("post-mortem cache directory: %w", err)
		}
		r.root, r.temporary = tmp, true
	}
	old := r.entries[key]
	dir := r.cacheDir(key, url)
	r.mu.Unlock()
	if old != nil && old.version == version {
		return old.repo, nil
	}

	if old != nil {
		r.mu.Lock()
		delete(r.entries, key)
		r.mu.Unlock()
		if err := old.repo.Close(); err != nil {
			return nil, fmt.Errorf("close the cache of %s: %w", key, err)
		}
		if old.dir != dir {
			// Another remote: the old cache mirrors something else.
			_ = os.RemoveAll(old.dir)
		}
	}
	opts, err := options(dir)
	if err != nil {
		return nil, err
	}
	opts.Dir = dir
	repo, err := Open(opts)
	if err != nil {
		return nil, err
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		repo.Close()
		return nil, ErrClosed
	}
	r.entries[key] = &registryEntry{version: version, dir: dir, repo: repo}
	return repo, nil
}

// lockKey takes key's opener lock and returns its release.
func (r *Registry) lockKey(key string) func() {
	r.mu.Lock()
	l, ok := r.opening[key]
	if !ok {
		l = &sync.Mutex{}
		r.opening[key] = l
	}
	r.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Remove closes the Repository of key, if open, and deletes every cache of key (the
// PostmortemRepository is gone).
func (r *Registry) Remove(key string) error {
	unlock := r.lockKey(key)
	defer unlock()
	r.mu.Lock()
	old := r.entries[key]
	delete(r.entries, key)
	dir := r.keyDir(key)
	r.mu.Unlock()
	var err error
	if old != nil {
		err = old.repo.Close()
	}
	if r.Root() == "" {
		return err // nothing was ever cached
	}
	if rmErr := os.RemoveAll(dir); rmErr != nil {
		err = errors.Join(err, rmErr)
	}
	return err
}

// Close closes every open Repository; Open fails afterwards. The caches stay on disk
// for the next start, unless they are in a temporary directory.
func (r *Registry) Close() error {
	r.mu.Lock()
	r.closed = true
	entries := r.entries
	r.entries = map[string]*registryEntry{}
	root, temporary := r.root, r.temporary
	r.mu.Unlock()
	var errs []error
	for _, e := range entries {
		errs = append(errs, e.repo.Close())
	}
	if temporary {
		errs = append(errs, os.RemoveAll(root))
	}
	return errors.Join(errs...)
}

// keyDir is where key's caches live: root/namespace/name. Kubernetes names cannot hold
// a path separator or "..", so the path stays under root. Callers hold r.mu.
func (r *Registry) keyDir(key string) string {
	ns, name, _ := strings.Cut(key, "/")
	return filepath.Join(r.root, filepath.Base("ns-"+ns), filepath.Base("pmr-"+name))
}

// cacheDir is key's cache for url: a new URL gets a new cache rather than mixing two
// remotes' histories in one. Callers hold r.mu.
func (r *Registry) cacheDir(key, url string) string {
	sum := sha256.Sum256([]byte(url))
	return filepath.Join(r.keyDir(key), hex.EncodeToString(sum[:6]))
}
