package postmortem

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/filesystem"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// ErrCacheInUse is returned when another Store (in this process or another) has the
// cache directory open.
var ErrCacheInUse = errors.New("cache directory is in use by another repository")

// Default author of commits, as the CRD defaults it.
const (
	DefaultAuthorName  = "Klaxon"
	DefaultAuthorEmail = "klaxon@localhost"
)

// StoreOptions configures how a Store writes commits.
type StoreOptions struct {
	// Author (and committer) of commits; the CRD's defaults when empty.
	Author v1alpha1.Author
	// Signer signs commits when set.
	Signer *Signer
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Store is a bare local git repository in which records are committed from objects,
// with crash-safe ref updates. It is the local half of a Repository, and usable alone
// (the benchmark measures it). A Store has its directory to itself: Open locks it, and
// methods are safe for concurrent use.
type Store struct {
	dir     string
	lock    *os.File
	storage *safeStorage
	refs    *refWriter
	author  object.Signature
	signer  *Signer
	now     func() time.Time
	// Recovered is what opening the store repaired after a crash.
	Recovered RefRecovery

	mu sync.Mutex
	b  *builder
	// maxPacks is autoMaxPacks; tests lower it.
	maxPacks int
}

// OpenStore opens the bare repository in dir, creating it (and dir) when missing, and
// repairs what a crash may have left (see RefRecovery).
func OpenStore(dir string, opts StoreOptions) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s, err := openLocked(dir, lock, opts)
	if err != nil {
		_ = unlockDir(lock)
		return nil, err
	}
	return s, nil
}

func openLocked(dir string, lock *os.File, opts StoreOptions) (*Store, error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	author := object.Signature{
		Name:  sanitizeIdent(firstNonEmpty(opts.Author.Name, DefaultAuthorName)),
		Email: sanitizeIdent(firstNonEmpty(opts.Author.Email, DefaultAuthorEmail)),
	}
	fs := osfs.New(dir)
	// Not ExclusiveAccess: with it go-git lists every loose object after each write,
	// which makes a commit cost more the more records the cache holds.
	fsStorage := filesystem.NewStorageWithOptions(fs, cache.NewObjectLRUDefault(), filesystem.Options{})
	rw := &refWriter{
		gitDir: dir,
		now:    now,
		ident:  func() string { return fmt.Sprintf("%s <%s>", author.Name, author.Email) },
	}
	st := &safeStorage{Storage: fsStorage, refs: rw}

	if _, err := os.Stat(filepath.Join(dir, "HEAD")); errors.Is(err, os.ErrNotExist) {
		if _, err := git.Init(st, nil); err != nil && !errors.Is(err, git.ErrRepositoryAlreadyExists) {
			return nil, fmt.Errorf("init store %s: %w", dir, err)
		}
	}
	rec, err := recoverRefs(rw, fsStorage)
	if err != nil {
		return nil, err
	}
	s := &Store{
		dir:       dir,
		lock:      lock,
		storage:   st,
		refs:      rw,
		author:    author,
		signer:    opts.Signer,
		now:       now,
		Recovered: rec,
		maxPacks:  autoMaxPacks,
	}
	s.b = newBuilder(st, author, opts.Signer, now)
	return s, nil
}

// sanitizeIdent drops what would break the commit header: angle brackets and newlines.
func sanitizeIdent(s string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '<', '>', '\n', '\r', 0:
			return -1
		}
		return r
	}, strings.TrimSpace(s))
}

// Dir returns the repository's directory.
func (s *Store) Dir() string { return s.dir }

// Close releases the directory.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return nil
	}
	err := errors.Join(s.storage.Close(), unlockDir(s.lock))
	s.lock = nil
	return err
}

// Head returns the commit branch points to, or "" when the branch does not exist.
func (s *Store) Head(branch string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, err := s.head(plumbing.NewBranchReferenceName(branch))
	if err != nil || h.IsZero() {
		return "", err
	}
	return h.String(), nil
}

func (s *Store) head(name plumbing.ReferenceName) (plumbing.Hash, error) {
	h, err := s.refs.read(name)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read %s: %w", name, err)
	}
	return h, nil
}

// Commit commits changes, in order, onto the local branch and moves the branch (one
// crash-safe ref update for the lot). A change whose content the branch already holds
// makes no commit. Change.Branch is ignored: every change goes to branch.
func (s *Store) Commit(branch string, changes []Change) ([]Result, error) {
	ref := plumbing.NewBranchReferenceName(branch)
	if err := ref.Validate(); err != nil {
		return nil, fmt.Errorf("branch %q: %w", branch, err)
	}
	for _, ch := range changes {
		if err := ValidatePath(ch.Path); err != nil {
			return nil, err
		}
	}
	if len(changes) == 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return nil, errors.New("store is closed")
	}
	base, err := s.head(ref)
	if err != nil {
		return nil, err
	}
	head, results, err := s.build(base, changes, branch)
	if err != nil {
		s.b.discard()
		return nil, err
	}
	if head == base {
		return results, nil
	}
	// Objects first, then the ref that makes them reachable.
	if err := s.b.flushLoose(s.storage); err != nil {
		s.b.discard()
		return nil, err
	}
	old := base
	if err := s.refs.update(ref, head.String(), &old, "commit: "+firstLine(changes[len(changes)-1].Message)); err != nil {
		return nil, err
	}
	return results, nil
}

// Maintain merges the small packs that batches and fetches leave into few. Batches do
// it themselves past a high mark; calling Maintain when nothing waits (the controller's
// periodic reconcile) keeps lookups fast without slowing a commit.
func (s *Store) Maintain() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lock == nil {
		return errors.New("store is closed")
	}
	return consolidatePacks(s.storage, s.dir, 1)
}

// build commits changes on base and returns the new head and a result per change. The
// objects it made are pending in s.b until flushed.
func (s *Store) build(base plumbing.Hash, changes []Change, branch string) (plumbing.Hash, []Result, error) {
	head := base
	results := make([]Result, len(changes))
	for i, ch := range changes {
		next, p, committed, err := s.b.apply(head, ch)
		if err != nil {
			return plumbing.ZeroHash, nil, fmt.Errorf("commit %s: %w", ch.Path, err)
		}
		results[i] = Result{Path: p, Branch: branch, Committed: committed}
		if committed {
			results[i].Commit = next.String()
			head = next
		}
	}
	// Unchanged files: the commit that wrote them, found once the new head is known,
	// since a later change of the batch may have written the same file again.
	for i, ch := range changes {
		if results[i].Committed || head.IsZero() {
			continue
		}
		c, err := s.b.introducedBy(head, results[i].Path, ch.Content, ch.KnownCommit)
		if err != nil {
			return plumbing.ZeroHash, nil, fmt.Errorf("find commit of %s: %w", results[i].Path, err)
		}
		results[i].Commit = c.String()
	}
	return head, results, nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// safeStorage is go-git's filesystem storage with every ref write, fetches included,
// going through refWriter's lock-and-rename instead of go-git's in-place rewrite.
type safeStorage struct {
	*filesystem.Storage
	refs *refWriter
}

// SetReference writes r crash-safely.
func (s *safeStorage) SetReference(r *plumbing.Reference) error {
	return s.refs.update(r.Name(), refValue(r), nil, "fetch")
}

// CheckAndSetReference writes r if the ref still holds old's hash.
func (s *safeStorage) CheckAndSetReference(r, old *plumbing.Reference) error {
	if old == nil {
		return s.SetReference(r)
	}
	h := old.Hash()
	return s.refs.update(r.Name(), refValue(r), &h, "fetch")
}

func refValue(r *plumbing.Reference) string {
	if r.Type() == plumbing.SymbolicReference {
		return "ref: " + r.Target().String()
	}
	return r.Hash().String()
}
