package postmortem

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Commits are built from objects, with no worktree and no index: the record's blob, a
// new tree for each directory on its path (every other entry of those trees, and every
// other tree, is shared with the parent), and the commit. This is what git's own
// plumbing (hash-object, mktree, commit-tree, update-ref) would do; the work depends on
// the depth of the path and the size of the trees on it, not on the size of the
// repository, where a worktree's add and commit scan every file.

// Change is one record to commit.
type Change struct {
	// Path of the file in the repository (see PathTemplate). When it holds another
	// incident's record, the record goes to a path of its own instead (see Paths).
	Path string
	// Content of the file: the rendered record.
	Content []byte
	// Message of the commit.
	Message string
	// Branch to commit to; empty means the repository's branch. In PullRequest mode,
	// Repository.Prepare sets it to PullRequestBranch(namespace, name).
	Branch string
	// KnownCommit is the commit the caller last recorded for this path (the incident's
	// status.postmortem.commit). When the file is unchanged it is returned as is, which
	// spares a walk through history to find the commit that wrote the file.
	KnownCommit string
	// PullRequest, in PullRequest mode, is the title and description of the pull
	// request opened for the branch; the first line of Message and the rest when nil.
	PullRequest *PullRequestText
	// Incident the record belongs to (Prepare sets it). Its UID keeps the record off
	// another incident's file and pull request branch (see Paths); without one the
	// record goes to Path and Branch as they are.
	Incident IncidentRef

	// pathTaken is set when another incident holds Path although the parent commit
	// does not show it: its record waits on the pull request branch this one avoided.
	pathTaken bool
}

// PullRequestText is the title and description of a pull or merge request.
type PullRequestText struct {
	// Title of the pull request.
	Title string
	// Body of the pull request (Markdown).
	Body string
}

// Result says what became of a Change.
type Result struct {
	// Path of the file: Change.Path, or the path of its own the record got because
	// another incident's record is at Change.Path (see Change.Paths).
	Path string
	// Branch the file was committed to.
	Branch string
	// Commit is the commit that wrote this content to Path: the new commit when
	// Committed, otherwise the existing commit that already holds it.
	Commit string
	// Committed is false when the branch already held the same content: nothing was
	// committed, which is what makes committing a record again a no-op.
	Committed bool
	// PullRequestURL is the pull or merge request opened for the branch, in
	// PullRequest mode with a forge; empty when the forge did not say.
	PullRequestURL string
}

// historyWalkLimit bounds the walk that finds which commit wrote an unchanged file. A
// record rewritten more than this many commits ago is reported with the oldest commit
// the walk reached, which holds the same content.
const historyWalkLimit = 2000

// errUnchanged ends a tree edit that would not change anything.
var errUnchanged = errors.New("unchanged")

// builder builds new commits in memory, on top of a repository's object store. Its
// objects stay pending until the commit or batch is complete, and are written then
// (flushLoose, flush in packs.go): nothing of a change that fails half-way reaches the
// disk, and a batch's objects go out as one pack.
type builder struct {
	s      storer.EncodedObjectStorer
	author object.Signature
	signer *Signer
	now    func() time.Time
	// written lists the pending objects in the order they were built; pending holds
	// them until flush.
	written []plumbing.Hash
	pending map[plumbing.Hash]plumbing.EncodedObject
	// trees caches decoded trees by hash; trees are immutable, and each commit reads
	// the trees the previous one wrote.
	trees map[plumbing.Hash][]object.TreeEntry
	// roots caches the root tree of commits.
	roots map[plumbing.Hash]plumbing.Hash
}

func newBuilder(s storer.EncodedObjectStorer, author object.Signature, signer *Signer, now func() time.Time) *builder {
	b := &builder{
		author: author, signer: signer, now: now,
		pending: make(map[plumbing.Hash]plumbing.EncodedObject),
		trees:   make(map[plumbing.Hash][]object.TreeEntry),
		roots:   make(map[plumbing.Hash]plumbing.Hash),
	}
	b.s = &overlay{EncodedObjectStorer: s, pending: b.pending}
	return b
}

// apply commits ch on parent (plumbing.ZeroHash for a root commit), at the path place
// chooses, which it returns. It returns the new commit and true, or parent and false
// when parent already holds the content there.
func (b *builder) apply(parent plumbing.Hash, ch Change) (plumbing.Hash, string, bool, error) {
	p, err := b.place(parent, ch)
	if err != nil {
		return plumbing.ZeroHash, "", false, err
	}
	ch.Path = p
	root, err := b.rootTree(parent)
	if err != nil {
		return plumbing.ZeroHash, "", false, err
	}
	blob := plumbing.ComputeHash(plumbing.BlobObject, ch.Content)
	newRoot, err := b.setPath(root, strings.Split(ch.Path, "/"), blob, ch.Path)
	if errors.Is(err, errUnchanged) {
		return parent, p, false, nil
	}
	if err != nil {
		return plumbing.ZeroHash, "", false, err
	}
	if err := b.writeBlob(ch.Content); err != nil {
		return plumbing.ZeroHash, "", false, err
	}

	sig := b.author
	sig.When = b.now().Truncate(time.Second)
	c := &object.Commit{
		Author:    sig,
		Committer: sig,
		Message:   commitMessage(ch),
		TreeHash:  newRoot,
	}
	if !parent.IsZero() {
		c.ParentHashes = []plumbing.Hash{parent}
	}
	if b.signer != nil {
		if err := b.signer.signCommit(c); err != nil {
			return plumbing.ZeroHash, "", false, err
		}
	}
	obj := b.s.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		return plumbing.ZeroHash, "", false, fmt.Errorf("encode commit: %w", err)
	}
	h, err := b.store(obj)
	if err != nil {
		return plumbing.ZeroHash, "", false, err
	}
	b.roots[h] = newRoot
	return h, p, true, nil
}

// rootTree returns the root tree of commit h (none for plumbing.ZeroHash). The commit
// just written is the next one's parent, so its tree is remembered rather than read
// back and inflated.
func (b *builder) rootTree(h plumbing.Hash) (plumbing.Hash, error) {
	if h.IsZero() {
		return plumbing.ZeroHash, nil
	}
	if t, ok := b.roots[h]; ok {
		return t, nil
	}
	c, err := b.commit(h)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	if len(b.roots) >= 4096 {
		clear(b.roots)
	}
	b.roots[h] = c.TreeHash
	return c.TreeHash, nil
}

// commitMessage ends the message with a newline, as git does, and never leaves it empty.
func commitMessage(ch Change) string {
	msg := strings.TrimRight(ch.Message, "\n")
	if strings.TrimSpace(msg) == "" {
		msg = "postmortem: " + ch.Path
	}
	return msg + "\n"
}

// setPath returns the hash of tree (plumbing.ZeroHash for none) with the file at comps
// set to blob, writing each new tree. It returns errUnchanged, having written nothing,
// when the file already has that content.
func (b *builder) setPath(tree plumbing.Hash, comps []string, blob plumbing.Hash, full string) (plumbing.Hash, error) {
	entries, err := b.tree(tree)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	name := comps[0]
	// A linear scan: git's order compares a directory as if its name ended in "/", so
	// a binary search by name could miss it, and trees on a record's path are small.
	idx := -1
	for j := range entries {
		if entries[j].Name == name {
			idx = j
			break
		}
	}

	var entry object.TreeEntry
	if len(comps) == 1 {
		if idx >= 0 {
			if entries[idx].Mode == filemode.Dir {
				return plumbing.ZeroHash, fmt.Errorf("path %q: a directory of that name exists", full)
			}
			if entries[idx].Hash == blob && entries[idx].Mode == filemode.Regular {
				return plumbing.ZeroHash, errUnchanged
			}
		}
		entry = object.TreeEntry{Name: name, Mode: filemode.Regular, Hash: blob}
	} else {
		child := plumbing.ZeroHash
		if idx >= 0 {
			if entries[idx].Mode != filemode.Dir {
				return plumbing.ZeroHash, fmt.Errorf("path %q: %s is a file, not a directory", full, name)
			}
			child = entries[idx].Hash
		}
		h, err := b.setPath(child, comps[1:], blob, full)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		entry = object.TreeEntry{Name: name, Mode: filemode.Dir, Hash: h}
	}

	out := make([]object.TreeEntry, 0, len(entries)+1)
	out = append(out, entries...)
	if idx >= 0 {
		out[idx] = entry
	} else {
		out = append(out, entry)
	}
	sortTreeEntries(out)
	return b.writeTree(out)
}

// sortTreeEntries sorts in git's tree order: by name, a directory's name compared as if
// it ended in "/". Any other order fails git fsck.
func sortTreeEntries(e []object.TreeEntry) {
	key := func(t object.TreeEntry) string {
		if t.Mode == filemode.Dir {
			return t.Name + "/"
		}
		return t.Name
	}
	sort.Slice(e, func(i, j int) bool { return key(e[i]) < key(e[j]) })
}

// tree returns the entries of tree h, or none for plumbing.ZeroHash. The slice is shared
// with the cache: callers copy before changing it.
func (b *builder) tree(h plumbing.Hash) ([]object.TreeEntry, error) {
	if h.IsZero() {
		return nil, nil
	}
	if e, ok := b.trees[h]; ok {
		return e, nil
	}
	t, err := object.GetTree(b.s, h)
	if err != nil {
		return nil, fmt.Errorf("read tree %s: %w", h, err)
	}
	b.cacheTree(h, t.Entries)
	return t.Entries, nil
}

func (b *builder) cacheTree(h plumbing.Hash, e []object.TreeEntry) {
	// The trees on the paths of recent records are what the next commit reads; a
	// bounded map that is simply dropped when full keeps that set without an LRU.
	if len(b.trees) >= 4096 {
		clear(b.trees)
	}
	b.trees[h] = e
}

func (b *builder) commit(h plumbing.Hash) (*object.Commit, error) {
	c, err := object.GetCommit(b.s, h)
	if err != nil {
		return nil, fmt.Errorf("read commit %s: %w", h, err)
	}
	return c, nil
}

func (b *builder) writeTree(entries []object.TreeEntry) (plumbing.Hash, error) {
	t := &object.Tree{Entries: entries}
	obj := b.s.NewEncodedObject()
	if err := t.Encode(obj); err != nil {
		return plumbing.ZeroHash, fmt.Errorf("encode tree: %w", err)
	}
	h, err := b.store(obj)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	b.cacheTree(h, entries)
	return h, nil
}

func (b *builder) writeBlob(content []byte) error {
	obj := b.s.NewEncodedObject()
	obj.SetType(plumbing.BlobObject)
	obj.SetSize(int64(len(content)))
	w, err := obj.Writer()
	if err != nil {
		return fmt.Errorf("encode blob: %w", err)
	}
	if _, err := w.Write(content); err != nil {
		return fmt.Errorf("encode blob: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("encode blob: %w", err)
	}
	_, err = b.store(obj)
	return err
}

// store keeps obj pending until flush.
func (b *builder) store(obj plumbing.EncodedObject) (plumbing.Hash, error) {
	h := obj.Hash()
	if _, ok := b.pending[h]; !ok {
		b.pending[h] = obj
		b.written = append(b.written, h)
	}
	return h, nil
}

// mark and rollback drop the objects of a change that failed half-way.
func (b *builder) mark() int { return len(b.written) }

func (b *builder) rollback(mark int) {
	for _, h := range b.written[mark:] {
		delete(b.pending, h)
	}
	b.written = b.written[:mark]
}

// discard drops every pending object, e.g. those of a batch rebuilt on a moved remote.
func (b *builder) discard() { b.rollback(0) }

// overlay reads the builder's pending objects before the store's.
type overlay struct {
	storer.EncodedObjectStorer
	pending map[plumbing.Hash]plumbing.EncodedObject
}

// EncodedObject returns a pending object, or the store's.
func (o *overlay) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	if obj, ok := o.pending[h]; ok && (t == plumbing.AnyObject || t == obj.Type()) {
		return obj, nil
	}
	return o.EncodedObjectStorer.EncodedObject(t, h)
}

// HasEncodedObject reports pending objects too.
func (o *overlay) HasEncodedObject(h plumbing.Hash) error {
	if _, ok := o.pending[h]; ok {
		return nil
	}
	return o.EncodedObjectStorer.HasEncodedObject(h)
}

// EncodedObjectSize reports pending objects too.
func (o *overlay) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	if obj, ok := o.pending[h]; ok {
		return obj.Size(), nil
	}
	return o.EncodedObjectStorer.EncodedObjectSize(h)
}

// fileAt returns the blob at path in commit h's tree, or plumbing.ZeroHash.
func (b *builder) fileAt(h plumbing.Hash, path string) (plumbing.Hash, error) {
	tree, err := b.rootTree(h)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	comps := strings.Split(path, "/")
	for i, name := range comps {
		entries, err := b.tree(tree)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		found := false
		for _, e := range entries {
			if e.Name != name {
				continue
			}
			last := i == len(comps)-1
			if last && e.Mode.IsFile() {
				return e.Hash, nil
			}
			if !last && e.Mode == filemode.Dir {
				tree, found = e.Hash, true
			}
			break
		}
		if !found {
			return plumbing.ZeroHash, nil
		}
	}
	return plumbing.ZeroHash, nil
}

// introducedBy returns the commit that wrote content to path on the first-parent history
// of head, which holds it: the oldest commit of the run, from head back, whose file is
// unchanged. known, when it holds the same file, is taken at its word.
func (b *builder) introducedBy(head plumbing.Hash, path string, content []byte, known string) (plumbing.Hash, error) {
	want := plumbing.ComputeHash(plumbing.BlobObject, content)
	if known != "" {
		if k := plumbing.NewHash(known); k.String() == strings.ToLower(known) {
			if got, err := b.fileAt(k, path); err == nil && got == want {
				return k, nil
			}
		}
	}
	cur := head
	for range historyWalkLimit {
		c, err := b.commit(cur)
		if err != nil {
			return plumbing.ZeroHash, err
		}
		if len(c.ParentHashes) == 0 {
			return cur, nil
		}
		got, err := b.fileAt(c.ParentHashes[0], path)
		if err != nil {
			// A shallow or partial history ends here; cur holds the content.
			return cur, nil
		}
		if got != want {
			return cur, nil
		}
		cur = c.ParentHashes[0]
	}
	return cur, nil
}
