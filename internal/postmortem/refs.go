package postmortem

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage"
	"github.com/go-git/go-git/v5/storage/filesystem"
)

// Ref updates are made crash-safe the way git makes them: the new value goes to
// "<ref>.lock" (created exclusively), is fsynced, then renamed over the ref. A rename is
// atomic, so a process killed at any point leaves the ref holding its old value or its
// new one, never an empty or half-written file; the worst it leaves is a stale lock,
// which recoverRefs removes. The fsync before the rename extends that to a power loss:
// the rename can only reach the disk after the content it points to. Like git, the
// directory is not fsynced: after a power loss the ref may hold its old value, which is
// safe, because a record counts as committed only once the remote has it. go-git's own writer
// truncates the ref file in place and then writes it, so a crash between the two leaves
// an empty ref: every ref this package writes, including those a fetch updates, goes
// through refWriter instead (see safeStorage).
//
// Each update also appends a line to the ref's reflog (logs/<ref>), as git does with
// core.logAllRefUpdates. The reflog is not synced; it is how recoverRefs finds the last
// good value of a ref damaged by something other than this writer (a power loss before
// the objects reached the disk, an older version of the cache, a person).

// refWriter updates refs of one bare repository. Callers serialize updates (Store.mu);
// the exclusive lock file protects against any other writer, git included.
type refWriter struct {
	gitDir string
	ident  func() string
	now    func() time.Time
	// crashAfter, in tests, stops an update at the named step as a killed process would.
	crashAfter string
}

// errCrashed is returned by an update stopped by crashAfter.
var errCrashed = errors.New("simulated crash")

// update sets ref name to value (a hash, or "ref: <target>" for a symbolic ref). With
// old set, it fails with storage.ErrReferenceHasChanged unless the ref currently holds
// old (compare-and-swap, as `git update-ref <ref> <new> <old>`); plumbing.ZeroHash as old
// means the ref must not exist.
func (w *refWriter) update(name plumbing.ReferenceName, value string, old *plumbing.Hash, msg string) error {
	if err := name.Validate(); err != nil || !name.IsSafe() {
		return fmt.Errorf("update ref %q: invalid reference name", name)
	}
	path := filepath.Join(w.gitDir, filepath.FromSlash(string(name)))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("update ref %s: %w", name, err)
	}
	lockPath := path + ".lock"
	f, err := os.OpenFile(lockPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, fs.ErrExist) {
		// The cache directory is locked for this process (dirLock) and updates are
		// serialized, so an existing lock can only be left by a process that died.
		if rmErr := os.Remove(lockPath); rmErr != nil && !errors.Is(rmErr, fs.ErrNotExist) {
			return fmt.Errorf("update ref %s: remove stale lock: %w", name, rmErr)
		}
		f, err = os.OpenFile(lockPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	}
	if err != nil {
		return fmt.Errorf("update ref %s: lock: %w", name, err)
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		f.Close()
		if w.crashAfter == "" {
			os.Remove(lockPath)
		}
	}()

	prev, err := w.read(name)
	if err != nil && !errors.Is(err, plumbing.ErrReferenceNotFound) && old != nil {
		// Without an expected old value the update overwrites whatever is there,
		// which is how recoverRefs repairs a corrupt ref.
		return fmt.Errorf("update ref %s: %w", name, err)
	}
	if old != nil && prev != *old {
		return fmt.Errorf("update ref %s: %w", name, storage.ErrReferenceHasChanged)
	}

	content := value + "\n"
	if w.crashAfter == "partial-write" {
		_, _ = f.WriteString(content[:len(content)/2])
		return errCrashed
	}
	if _, err := f.WriteString(content); err != nil {
		return fmt.Errorf("update ref %s: write lock: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("update ref %s: sync lock: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("update ref %s: close lock: %w", name, err)
	}
	if w.crashAfter == "before-rename" {
		return errCrashed
	}
	if err := os.Rename(lockPath, path); err != nil {
		return fmt.Errorf("update ref %s: rename lock: %w", name, err)
	}
	committed = true
	if h := plumbing.NewHash(value); !strings.HasPrefix(value, "ref: ") && h.String() == value {
		w.appendLog(name, prev, h, msg)
	}
	return nil
}

// remove deletes a loose ref under its lock. Packed refs are go-git's to rewrite.
func (w *refWriter) remove(name plumbing.ReferenceName) error {
	if err := name.Validate(); err != nil || !name.IsSafe() {
		return fmt.Errorf("remove ref %q: invalid reference name", name)
	}
	path := filepath.Join(w.gitDir, filepath.FromSlash(string(name)))
	lockPath := path + ".lock"
	_ = os.Remove(lockPath)
	f, err := os.OpenFile(lockPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil // its directory does not exist, so neither does the ref
		}
		return fmt.Errorf("remove ref %s: lock: %w", name, err)
	}
	f.Close()
	defer os.Remove(lockPath)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove ref %s: %w", name, err)
	}
	return nil
}

// read returns the hash a loose or packed ref holds.
func (w *refWriter) read(name plumbing.ReferenceName) (plumbing.Hash, error) {
	b, err := os.ReadFile(filepath.Join(w.gitDir, filepath.FromSlash(string(name))))
	if err == nil {
		h, ok := parseHashLine(b)
		if !ok {
			return plumbing.ZeroHash, fmt.Errorf("ref %s is corrupt: %q", name, truncate(string(b), 64))
		}
		return h, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return plumbing.ZeroHash, err
	}
	return w.readPacked(name)
}

func (w *refWriter) readPacked(name plumbing.ReferenceName) (plumbing.Hash, error) {
	f, err := os.Open(filepath.Join(w.gitDir, "packed-refs"))
	if errors.Is(err, fs.ErrNotExist) {
		return plumbing.ZeroHash, plumbing.ErrReferenceNotFound
	}
	if err != nil {
		return plumbing.ZeroHash, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "^") {
			continue
		}
		hash, ref, ok := strings.Cut(line, " ")
		if ok && ref == string(name) {
			if h, ok := parseHashLine([]byte(hash)); ok {
				return h, nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return plumbing.ZeroHash, err
	}
	return plumbing.ZeroHash, plumbing.ErrReferenceNotFound
}

func (w *refWriter) appendLog(name plumbing.ReferenceName, old, new plumbing.Hash, msg string) {
	path := filepath.Join(w.gitDir, "logs", filepath.FromSlash(string(name)))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return // the reflog is a recovery aid; the ref itself is updated
	}
	defer f.Close()
	msg = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return ' '
		}
		return r
	}, msg)
	fmt.Fprintf(f, "%s %s %s %d +0000\t%s\n", old, new, w.ident(), w.now().Unix(), msg)
}

// parseHashLine parses a ref file holding a hash and a newline, as git writes it.
func parseHashLine(b []byte) (plumbing.Hash, bool) {
	s := string(bytes.TrimRight(b, "\n"))
	if len(s) != 40 {
		return plumbing.ZeroHash, false
	}
	h := plumbing.NewHash(s)
	return h, h.String() == strings.ToLower(s) && !h.IsZero()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// RefRecovery reports what recoverRefs repaired.
type RefRecovery struct {
	// StaleLocks are lock files removed, relative to the repository.
	StaleLocks []string
	// Restored are refs reset to the last good value of their reflog.
	Restored []string
	// Removed are refs that held nothing usable and had no good reflog entry; a fetch
	// restores remote-tracking refs, and a branch is rebuilt from its remote.
	Removed []string
}

// recoverRefs repairs what a crash can leave in a bare repository this process has just
// locked: stale *.lock files, partial packs, and any loose ref that
// does not name a readable commit (a half-written file from another writer, or a commit
// whose objects were lost with the page cache). Such a ref goes back to the newest
// reflog entry that names a readable commit, or is removed.
func recoverRefs(w *refWriter, s *filesystem.Storage) (RefRecovery, error) {
	var rep RefRecovery
	// Locks and temporary objects first: nothing else is running.
	for _, dir := range []string{"refs", "logs"} {
		err := filepath.WalkDir(filepath.Join(w.gitDir, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				return err
			}
			if !d.IsDir() && strings.HasSuffix(p, ".lock") {
				rel, _ := filepath.Rel(w.gitDir, p)
				rep.StaleLocks = append(rep.StaleLocks, filepath.ToSlash(rel))
				return os.Remove(p)
			}
			return nil
		})
		if err != nil {
			return rep, fmt.Errorf("recover refs: %w", err)
		}
	}
	for _, name := range []string{"packed-refs.lock", "HEAD.lock", "config.lock", "shallow.lock"} {
		if err := os.Remove(filepath.Join(w.gitDir, name)); err == nil {
			rep.StaleLocks = append(rep.StaleLocks, name)
		}
	}
	removePartialPacks(w.gitDir)

	var refs []plumbing.ReferenceName
	err := filepath.WalkDir(filepath.Join(w.gitDir, "refs"), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(w.gitDir, p)
			refs = append(refs, plumbing.ReferenceName(filepath.ToSlash(rel)))
		}
		return nil
	})
	if err != nil {
		return rep, fmt.Errorf("recover refs: %w", err)
	}
	for _, name := range refs {
		b, err := os.ReadFile(filepath.Join(w.gitDir, filepath.FromSlash(string(name))))
		if err != nil {
			return rep, fmt.Errorf("recover ref %s: %w", name, err)
		}
		if bytes.HasPrefix(b, []byte("ref: ")) {
			continue
		}
		if h, ok := parseHashLine(b); ok && readableCommit(s, h) {
			continue
		}
		if h, ok := lastGoodReflogEntry(w, s, name); ok {
			if err := w.update(name, h.String(), nil, "recover: restore last good value"); err != nil {
				return rep, err
			}
			rep.Restored = append(rep.Restored, string(name))
			continue
		}
		if err := w.remove(name); err != nil {
			return rep, err
		}
		rep.Removed = append(rep.Removed, string(name))
	}
	return rep, nil
}

// readableCommit reports whether h names a commit whose object and root tree can be read.
func readableCommit(s *filesystem.Storage, h plumbing.Hash) bool {
	c, err := object.GetCommit(s, h)
	if err != nil {
		return false
	}
	_, err = object.GetTree(s, c.TreeHash)
	return err == nil
}

func lastGoodReflogEntry(w *refWriter, s *filesystem.Storage, name plumbing.ReferenceName) (plumbing.Hash, bool) {
	b, err := os.ReadFile(filepath.Join(w.gitDir, "logs", filepath.FromSlash(string(name))))
	if err != nil {
		return plumbing.ZeroHash, false
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		f := strings.Fields(lines[i])
		if len(f) < 2 {
			continue
		}
		if h, ok := parseHashLine([]byte(f[1])); ok && readableCommit(s, h) {
			return h, true
		}
	}
	return plumbing.ZeroHash, false
}
