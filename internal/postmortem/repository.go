package postmortem

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// PullRequestBranchPrefix starts the branch of every incident in PullRequest mode.
const PullRequestBranchPrefix = "postmortem/"

// PullRequestBranch returns the branch that carries an incident's record for review.
func PullRequestBranch(namespace, name string) string {
	return PullRequestBranchPrefix + namespace + "/" + name
}

// Defaults of Options.
const (
	DefaultBranch      = "main"
	defaultMaxAttempts = 10
	defaultTimeout     = 2 * time.Minute
)

// ErrClosed is returned by a Repository used after Close.
var ErrClosed = errors.New("repository is closed")

// Options configure a Repository.
type Options struct {
	// Dir is the local bare cache, one directory per PostmortemRepository; created if
	// missing and reused across restarts.
	Dir string
	// URL of the remote: file://, http(s):// or ssh://.
	URL string
	// Branch records are committed to (the base branch in PullRequest mode).
	Branch string
	// Mode is Direct or PullRequest.
	Mode v1alpha1.CommitMode
	// PathTemplate places records (DefaultPathTemplate when empty).
	PathTemplate string
	// Author of the commits.
	Author v1alpha1.Author
	// Credentials from the Secret.
	Credentials Credentials
	// Sign commits with Credentials.SigningKey.
	Sign bool
	// Forge opens pull requests in PullRequest mode; nil for none.
	Forge Forge
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// MaxAttempts bounds how often one batch is rebuilt on a remote that moved.
	MaxAttempts int
	// Timeout bounds one batch: fetch, build, push and pull request.
	Timeout time.Duration
}

// OptionsFromSpec turns a PostmortemRepository's spec and Secrets into Options. secret
// is the data of spec.secretRef (nil without one); forgeToken is the "token" of
// spec.forge.secretRef.
func OptionsFromSpec(dir string, spec v1alpha1.PostmortemRepositorySpec, secret map[string][]byte, forgeToken string) (Options, error) {
	opts := Options{
		Dir:          dir,
		URL:          spec.URL,
		Branch:       spec.Branch,
		Mode:         spec.Mode,
		PathTemplate: spec.PathTemplate,
		Author:       spec.Author,
		Credentials:  CredentialsFromSecret(secret),
		Sign:         spec.Sign,
	}
	if spec.Forge != nil {
		f, err := NewForge(*spec.Forge, forgeToken, nil)
		if err != nil {
			return Options{}, err
		}
		opts.Forge = f
	}
	return opts, nil
}

// Repository commits records to a PostmortemRepository's remote through a local bare
// cache: build the commit from objects on the remote branch as last seen, push, and on
// a remote that moved, fetch and build again. Commit is safe for concurrent use, and
// concurrent calls share one push (see Commit).
type Repository struct {
	opts   Options
	store  *Store
	remote *remote
	path   *PathTemplate

	qmu     sync.Mutex
	queue   []*request
	running bool
	closed  bool
	idle    *sync.Cond
	// fetched is false until the first fetch and after a push finds the remote moved.
	// Guarded by store.mu.
	fetched bool
}

// request is one Commit call waiting for its batch.
type request struct {
	ctx     context.Context
	changes []Change
	done    chan response
}

type response struct {
	results []Result
	err     error
}

// Open opens (or creates) the cache in opts.Dir. It does not reach the remote, so it
// succeeds while the remote is down; the first Commit or Sync fetches.
func Open(opts Options) (*Repository, error) {
	if opts.Branch == "" {
		opts.Branch = DefaultBranch
	}
	if opts.Mode == "" {
		opts.Mode = v1alpha1.CommitDirect
	}
	if opts.Mode != v1alpha1.CommitDirect && opts.Mode != v1alpha1.CommitPullRequest {
		return nil, configError("configure", fmt.Errorf("mode %q is not Direct or PullRequest", opts.Mode))
	}
	if err := plumbing.NewBranchReferenceName(opts.Branch).Validate(); err != nil {
		return nil, configError("configure", fmt.Errorf("branch %q is not a valid branch name", opts.Branch))
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = defaultMaxAttempts
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultTimeout
	}
	if opts.Dir == "" {
		return nil, configError("configure", errors.New("no cache directory"))
	}
	path, err := ParsePathTemplate(opts.PathTemplate)
	if err != nil {
		return nil, configError("configure", err)
	}
	var signer *Signer
	if opts.Sign {
		if len(opts.Credentials.SigningKey) == 0 {
			return nil, configError("configure", errors.New("sign is set but the Secret has no signingKey"))
		}
		if signer, err = NewSigner(opts.Credentials.SigningKey, opts.Credentials.Passphrase); err != nil {
			return nil, configError("configure", err)
		}
	}
	store, err := OpenStore(opts.Dir, StoreOptions{Author: opts.Author, Signer: signer, Now: opts.Now})
	if err != nil {
		return nil, err
	}
	rem, err := newRemote(opts.URL, opts.Credentials, filepath.Join(opts.Dir, "known_hosts"))
	if err != nil {
		store.Close()
		return nil, err
	}
	// HEAD names the branch, so `git log` in the cache shows the records.
	if err := store.refs.update(plumbing.HEAD, "ref: "+plumbing.NewBranchReferenceName(opts.Branch).String(), nil, ""); err != nil {
		store.Close()
		return nil, err
	}
	r := &Repository{opts: opts, store: store, remote: rem, path: path}
	r.idle = sync.NewCond(&r.qmu)
	return r, nil
}

// Close waits for a batch in progress and releases the cache.
func (r *Repository) Close() error {
	r.qmu.Lock()
	r.closed = true
	for r.running {
		r.idle.Wait()
	}
	r.qmu.Unlock()
	return r.store.Close()
}

// Store returns the local cache, for inspection. Committing through it moves the cache's
// branch without pushing; the next batch then finds the remote elsewhere and rebuilds.
func (r *Repository) Store() *Store { return r.store }

// Prepare renders rec through redactor and returns the Change that commits it: the
// path from the path template (of the redacted record, so a masked service does not
// reappear in the path), a commit message, and in PullRequest mode the incident's
// branch and pull request text. The caller sets KnownCommit.
func (r *Repository) Prepare(rec Record, redactor *Redactor) (Change, error) {
	red, err := redactor.Record(rec)
	if err != nil {
		return Change{}, err
	}
	content, err := Render(rec, redactor)
	if err != nil {
		return Change{}, err
	}
	p, err := r.path.Path(red)
	if err != nil {
		return Change{}, configError("path", err)
	}
	ch := Change{Path: p, Content: content, Message: CommitMessage(red), Incident: red.Incident}
	if r.opts.Mode == v1alpha1.CommitPullRequest {
		ch.Branch = PullRequestBranch(red.Incident.Namespace, red.Incident.Name)
		ch.PullRequest = &PullRequestText{
			Title: "Post-mortem: " + oneLine(red.Title, 200),
			Body: fmt.Sprintf("Post-mortem record of incident `%s/%s` (%s), committed by Klaxon for review.\n\nThe record is `%s`; its front matter is the machine-readable record that `kubectl incident replay` reads. Merging publishes it on `%s`.\n",
				red.Incident.Namespace, red.Incident.Name, firstNonEmpty(red.Severity, "no severity"), p, r.opts.Branch),
		}
	}
	return ch, nil
}

// CommitMessage is the commit message of a record: a subject naming the incident and
// trailers that tools can search (git log --grep 'Klaxon-Incident: ns/name').
func CommitMessage(rec Record) string {
	var b strings.Builder
	fmt.Fprintf(&b, "postmortem(%s/%s): %s\n\n", rec.Incident.Namespace, rec.Incident.Name, oneLine(rec.Title, 72))
	fmt.Fprintf(&b, "Post-mortem record of incident %s/%s", rec.Incident.Namespace, rec.Incident.Name)
	if rec.Severity != "" {
		fmt.Fprintf(&b, " (%s)", rec.Severity)
	}
	b.WriteString(".\n\n")
	fmt.Fprintf(&b, "Klaxon-Incident: %s/%s\n", rec.Incident.Namespace, rec.Incident.Name)
	if rec.Incident.UID != "" {
		fmt.Fprintf(&b, "Klaxon-Incident-UID: %s\n", rec.Incident.UID)
	}
	fmt.Fprintf(&b, "Klaxon-Schema: %s\n", SchemaV1)
	return b.String()
}

func oneLine(s string, limit int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > limit {
		cut := limit
		for cut > 0 && !utf8RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// Commit commits changes to the remote and returns a result per change, in order. A
// change whose content the branch already holds makes no commit (Committed=false, and
// Commit is the commit that wrote it). Calls made while a push is in flight are
// gathered into the next batch: one fetch if needed, one commit per changed record, and
// one push for all of them. On error nothing of this call is on the remote; the error
// is an *Error whose Kind says how to retry (KindOf).
func (r *Repository) Commit(ctx context.Context, changes []Change) ([]Result, error) {
	if len(changes) == 0 {
		return nil, nil
	}
	changes = append([]Change(nil), changes...)
	for i := range changes {
		ch := &changes[i]
		if ch.Branch == "" {
			if r.opts.Mode == v1alpha1.CommitPullRequest {
				return nil, configError("commit", fmt.Errorf("%s: PullRequest mode needs the incident's branch (use Prepare)", ch.Path))
			}
			ch.Branch = r.opts.Branch
		}
		if err := plumbing.NewBranchReferenceName(ch.Branch).Validate(); err != nil {
			return nil, configError("commit", fmt.Errorf("branch %q is not a valid branch name", ch.Branch))
		}
		// Only the branches the cache fetches can be committed to: a branch it never
		// fetches would never get past a remote that moved.
		if ch.Branch != r.opts.Branch && (r.opts.Mode != v1alpha1.CommitPullRequest || !strings.HasPrefix(ch.Branch, PullRequestBranchPrefix)) {
			return nil, configError("commit", fmt.Errorf("branch %q: this repository commits to %s", ch.Branch, r.opts.Branch))
		}
		if err := ValidatePath(ch.Path); err != nil {
			return nil, configError("commit", err)
		}
	}

	req := &request{ctx: ctx, changes: changes, done: make(chan response, 1)}
	r.qmu.Lock()
	if r.closed {
		r.qmu.Unlock()
		return nil, ErrClosed
	}
	r.queue = append(r.queue, req)
	if !r.running {
		r.running = true
		go r.drain()
	}
	r.qmu.Unlock()

	select {
	case resp := <-req.done:
		return resp.results, resp.err
	case <-ctx.Done():
		// The batch may still push this change; committing it again is then a no-op.
		return nil, ctx.Err()
	}
}

// drain processes batches until the queue is empty. One drain runs at a time, so
// batches never race each other for the remote or the cache.
func (r *Repository) drain() {
	for {
		r.qmu.Lock()
		batch := r.queue
		r.queue = nil
		if len(batch) == 0 {
			r.running = false
			r.idle.Broadcast()
			r.qmu.Unlock()
			return
		}
		r.qmu.Unlock()

		live := batch[:0]
		for _, req := range batch {
			if req.ctx.Err() != nil {
				req.done <- response{err: req.ctx.Err()}
				continue
			}
			live = append(live, req)
		}
		if len(live) == 0 {
			continue
		}
		// The batch serves several callers, so it must not die with the first one's
		// context; it keeps its values (the logger) and gets its own deadline.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(live[0].ctx), r.opts.Timeout)
		r.process(ctx, live)
		cancel()
	}
}

// branchState is one branch of a batch: what the remote has (base, the push's old
// value), where the batch started building (base, or the base branch's head for a new
// incident branch) and the new head.
type branchState struct {
	name              string
	base, start, head plumbing.Hash
}

// process runs one batch to the end and answers every request in it.
func (r *Repository) process(ctx context.Context, reqs []*request) {
	logger := log.FromContext(ctx).WithValues("repository", r.opts.Dir)
	r.store.mu.Lock()
	defer r.store.mu.Unlock()

	var lastErr error
	for attempt := 1; attempt <= r.opts.MaxAttempts; attempt++ {
		if !r.fetched {
			if err := r.fetchAll(ctx); err != nil {
				r.failAll(reqs, classify("fetch", err))
				return
			}
			r.fetched = true
		}
		branches, results, errs, err := r.buildBatch(reqs)
		if err != nil {
			r.store.b.discard()
			r.failAll(reqs, err)
			return
		}
		// The batch's objects go to the cache as one pack, and the same pack to the
		// remote.
		pack, err := r.store.b.flush(r.store.storage)
		if err != nil {
			r.store.b.discard()
			r.failAll(reqs, configError("write cache", err))
			return
		}
		var updates []refUpdate
		for _, b := range branches {
			if b.head != b.start {
				updates = append(updates, refUpdate{Branch: b.name, Old: b.base, New: b.head})
			}
		}
		if len(updates) > 0 {
			err = r.remote.push(ctx, updates, pack)
			if errors.Is(err, errRemoteMoved) {
				logger.V(1).Info("remote moved during push; fetching and rebuilding", "attempt", attempt, "reason", err.Error())
				lastErr = err
				r.fetched = false
				// Two writers that keep colliding would keep colliding in step; a
				// random pause lets one of them through.
				select {
				case <-time.After(time.Duration(rand.Int64N(int64(min(attempt*25, 250)) * int64(time.Millisecond)))):
				case <-ctx.Done():
				}
				continue
			}
			if err != nil {
				r.failAll(reqs, classify("push", err))
				return
			}
			for _, u := range updates {
				if err := r.recordPushed(u); err != nil {
					// The push landed; a stale tracking ref only costs a fetch next time.
					logger.Error(err, "record pushed commit in the cache", "branch", u.Branch)
					r.fetched = false
				}
			}
			if err := consolidatePacks(r.store.storage, r.store.dir, r.store.maxPacks); err != nil {
				logger.Error(err, "merge packs in the cache")
			}
		}
		prURLs, prErrs := r.openPullRequests(ctx, branches, reqs, results)
		for i, req := range reqs {
			if errs[i] != nil {
				req.done <- response{err: errs[i]}
				continue
			}
			var reqErrs []error
			for j := range results[i] {
				br := results[i][j].Branch
				results[i][j].PullRequestURL = prURLs[br]
				if prErrs[br] != nil {
					reqErrs = append(reqErrs, prErrs[br])
				}
			}
			// The record is pushed: the results stand, and the error makes the caller
			// come back, when committing again opens the pull request.
			req.done <- response{results: results[i], err: errors.Join(reqErrs...)}
		}
		return
	}
	r.failAll(reqs, &Error{Kind: Transient, Op: "push", Err: fmt.Errorf("remote kept moving after %d attempts: %w", r.opts.MaxAttempts, lastErr)})
}

func (r *Repository) failAll(reqs []*request, err error) {
	for _, req := range reqs {
		req.done <- response{err: err}
	}
}

func (r *Repository) fetchAll(ctx context.Context) error {
	prefix := ""
	if r.opts.Mode == v1alpha1.CommitPullRequest {
		prefix = PullRequestBranchPrefix
	}
	return r.remote.fetch(ctx, r.store.storage, r.opts.Branch, prefix)
}

// buildBatch builds every request's changes on the tracking refs. A request whose change
// cannot be built (a path that collides with a directory) fails alone: its commits are
// dropped and the others go ahead. It returns the branches touched and the results and
// error of each request; the new objects are pending in the store's builder.
func (r *Repository) buildBatch(reqs []*request) ([]*branchState, [][]Result, []error, error) {
	b := r.store.b
	b.discard()
	var order []*branchState
	byName := map[string]*branchState{}
	state := func(name string) (*branchState, error) {
		if s, ok := byName[name]; ok {
			return s, nil
		}
		base, err := r.store.head(trackingRef(name))
		if err != nil {
			return nil, err
		}
		s := &branchState{name: name, base: base, start: base}
		if base.IsZero() && name != r.opts.Branch {
			// A new incident branch starts at the base branch. Its push then creates
			// the branch (old = nothing) at a commit whose parent the remote has.
			if s.start, err = r.store.head(trackingRef(r.opts.Branch)); err != nil {
				return nil, err
			}
		}
		s.head = s.start
		byName[name] = s
		order = append(order, s)
		return s, nil
	}

	// branch returns the branch ch goes to (see Change.branches): the first that holds
	// this incident's record, else the first that does not exist or whose owner is
	// unknown; "" when other incidents hold them all. A branch is looked at as the
	// batch left it, without joining the batch: one that only was looked at gets no
	// push and no pull request.
	branch := func(ch Change) (string, error) {
		names := ch.branches()
		if len(names) == 1 {
			return ch.Branch, nil
		}
		free := ""
		for _, name := range names {
			var head plumbing.Hash
			if s, ok := byName[name]; ok {
				if !s.base.IsZero() || s.head != s.start {
					head = s.head
				}
			} else {
				var err error
				if head, err = r.store.head(trackingRef(name)); err != nil {
					return "", err
				}
			}
			o := ownerUnknown
			if !head.IsZero() {
				var err error
				if o, err = b.branchOwner(head, ch.Incident); err != nil {
					return "", err
				}
			}
			switch {
			case o == ownerThis:
				return name, nil
			case o == ownerUnknown && free == "":
				free = name
			}
		}
		return free, nil
	}

	results := make([][]Result, len(reqs))
	errs := make([]error, len(reqs))
	for i, req := range reqs {
		heads := make(map[*branchState]plumbing.Hash)
		mark := b.mark()
		res := make([]Result, len(req.changes))
		for j, ch := range req.changes {
			name, err := branch(ch)
			if err != nil {
				return nil, nil, nil, err
			}
			if name == "" {
				errs[i] = configError("commit", fmt.Errorf("%s: branch %q and its alternatives hold the records of other incidents", ch.Path, ch.Branch))
				break
			}
			s, err := state(name)
			if err != nil {
				return nil, nil, nil, err
			}
			if _, ok := heads[s]; !ok {
				heads[s] = s.head
			}
			// Off another incident's branch, the record also keeps off that incident's
			// path: both pull requests would add the same file.
			ch.pathTaken = name != ch.Branch
			next, p, committed, err := b.apply(s.head, ch)
			if err != nil {
				errs[i] = configError("commit", fmt.Errorf("%s: %w", ch.Path, err))
				break
			}
			res[j] = Result{Path: p, Branch: name, Committed: committed}
			if committed {
				res[j].Commit = next.String()
				s.head = next
			}
		}
		if errs[i] != nil {
			for s, h := range heads {
				s.head = h
			}
			b.rollback(mark)
			continue
		}
		results[i] = res
	}
	// Unchanged files get the commit that wrote them, from the final heads.
	for i, req := range reqs {
		if errs[i] != nil {
			continue
		}
		for j, ch := range req.changes {
			res := &results[i][j]
			s := byName[res.Branch]
			if res.Committed || s.head.IsZero() {
				continue
			}
			c, err := b.introducedBy(s.head, res.Path, ch.Content, ch.KnownCommit)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("find commit of %s: %w", res.Path, err)
			}
			results[i][j].Commit = c.String()
		}
	}
	return order, results, errs, nil
}

// recordPushed moves the cache's branch to what the remote now has.
func (r *Repository) recordPushed(u refUpdate) error {
	return r.store.refs.update(trackingRef(u.Branch), u.New.String(), nil, "push: "+shortHash(u.New))
}

// openPullRequests opens a pull request for each incident branch of the batch that
// differs from the base branch. It runs on every batch, pushed or not: if a previous
// attempt pushed and then failed to reach the forge, committing again opens the request
// (a forge answers "already exists" to the rest).
func (r *Repository) openPullRequests(ctx context.Context, branches []*branchState, reqs []*request, results [][]Result) (map[string]string, map[string]error) {
	urls, errs := map[string]string{}, map[string]error{}
	if r.opts.Mode != v1alpha1.CommitPullRequest || r.opts.Forge == nil {
		return urls, errs
	}
	for _, b := range branches {
		// No request for the base branch itself, nor for an incident branch that
		// adds nothing to it (its record was merged and the branch deleted).
		if b.name == r.opts.Branch || b.head.IsZero() || (b.base.IsZero() && b.head == b.start) {
			continue
		}
		text := pullRequestText(b.name, reqs, results)
		url, err := r.opts.Forge.OpenPullRequest(ctx, PullRequest{Title: text.Title, Body: text.Body, Head: b.name, Base: r.opts.Branch})
		if err != nil {
			errs[b.name] = fmt.Errorf("%s: %w", b.name, err)
			continue
		}
		urls[b.name] = url
	}
	return urls, errs
}

// pullRequestText is the text of the last change on branch, or its commit message.
// results say which branch and path each change went to.
func pullRequestText(branch string, reqs []*request, results [][]Result) PullRequestText {
	var text PullRequestText
	for i, req := range reqs {
		if results[i] == nil {
			continue
		}
		for j, ch := range req.changes {
			res := results[i][j]
			if res.Branch != branch {
				continue
			}
			if ch.PullRequest != nil {
				text = *ch.PullRequest
				if res.Path != ch.Path {
					// Prepare's description names the path it expected.
					text.Body = strings.ReplaceAll(text.Body, "`"+ch.Path+"`", "`"+res.Path+"`")
				}
				continue
			}
			subject, body, _ := strings.Cut(strings.TrimSpace(ch.Message), "\n")
			text = PullRequestText{Title: firstNonEmpty(subject, "Post-mortem "+res.Path), Body: strings.TrimSpace(body)}
		}
	}
	return text
}

// Maintain merges the cache's small packs (see Store.Maintain).
func (r *Repository) Maintain() error { return r.store.Maintain() }

// Sync fetches the remote. The controller calls it to check that the remote answers and
// the credentials work (the PostmortemRepository's Ready condition).
func (r *Repository) Sync(ctx context.Context) error {
	r.store.mu.Lock()
	defer r.store.mu.Unlock()
	if err := r.fetchAll(ctx); err != nil {
		r.fetched = false
		return classify("fetch", err)
	}
	r.fetched = true
	return nil
}
