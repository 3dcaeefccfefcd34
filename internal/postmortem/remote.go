package postmortem

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp"
	"github.com/go-git/go-git/v5/plumbing/protocol/packp/capability"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/plumbing/transport/client"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// remoteName is the name go-git's fetch gives the remote. The cache is a mirror: a
// fetch writes the remote's branches to the same names (refs/heads/...), so each
// branch has one ref, which is both what the remote had when last seen and what the
// next record is built on.
const remoteName = "origin"

// defaultTokenUser is the user name sent with a token when the Secret has no username.
// GitHub and GitLab accept any non-empty name with a token; this one is GitHub's.
const defaultTokenUser = "x-access-token"

// remote is the far side: how to reach it and with which credentials.
type remote struct {
	url       string
	endpoint  *transport.Endpoint
	transport transport.Transport
	auth      transport.AuthMethod
}

// remoteEndpoint parses a remote's URL and applies the rules that need no Secret,
// for admission and the controller alike: a file remote is an absolute local path,
// an http(s) one holds no credentials, and the scheme is one Klaxon speaks.
func remoteEndpoint(rawURL string) (*transport.Endpoint, error) {
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return nil, fmt.Errorf("remote url: %w", err)
	}
	switch ep.Protocol {
	case "file":
		if (ep.Host != "" && ep.Host != "localhost") || !filepath.IsAbs(ep.Path) {
			return nil, fmt.Errorf("file remote %q must be file:// and an absolute path", rawURL)
		}
	case "http", "https":
		if ep.User != "" || ep.Password != "" {
			// Credentials belong in the Secret, where RBAC guards them, not in the spec.
			return nil, errors.New("remote url must not hold credentials; put them in the Secret")
		}
	case "ssh":
	default:
		return nil, fmt.Errorf("remote url scheme %q is not supported (file, http, https, ssh)", ep.Protocol)
	}
	return ep, nil
}

// newRemote checks the URL and builds the auth method for its scheme. knownHostsFile is
// where the ssh host keys are written for the known_hosts parser, which reads files.
func newRemote(rawURL string, cred Credentials, knownHostsFile string) (*remote, error) {
	ep, err := remoteEndpoint(rawURL)
	if err != nil {
		return nil, configError("configure", err)
	}
	r := &remote{url: rawURL, endpoint: ep}
	switch ep.Protocol {
	case "http", "https":
		if cred.Username != "" || cred.Password != "" {
			if ep.Protocol == "http" && !isLoopback(ep.Host) {
				return nil, configError("configure", errors.New("credentials would travel in clear text over http://; use https://"))
			}
			user := cred.Username
			if user == "" {
				user = defaultTokenUser
			}
			r.auth = &githttp.BasicAuth{Username: user, Password: cred.Password}
		}
	case "ssh":
		auth, err := sshAuth(ep, cred, knownHostsFile)
		if err != nil {
			return nil, configError("configure", err)
		}
		r.auth = auth
	}
	t, err := client.NewClient(ep)
	if err != nil {
		return nil, configError("configure", err)
	}
	r.transport = t
	return r, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sshAuth authenticates with the Secret's private key and verifies the host against its
// known_hosts, offering only the host key algorithms known_hosts has keys for (else the
// server may pick a key type known_hosts lacks and the handshake fails).
func sshAuth(ep *transport.Endpoint, cred Credentials, knownHostsFile string) (transport.AuthMethod, error) {
	if len(cred.SSHIdentity) == 0 {
		return nil, errors.New("ssh remote: the Secret has no identity (private key)")
	}
	if len(bytes.TrimSpace(cred.KnownHosts)) == 0 {
		return nil, errors.New("ssh remote: the Secret has no known_hosts; host keys are never accepted unverified")
	}
	user := ep.User
	if user == "" {
		user = "git"
	}
	keys, err := gitssh.NewPublicKeys(user, cred.SSHIdentity, "")
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) && len(cred.Passphrase) > 0 {
		keys, err = gitssh.NewPublicKeys(user, cred.SSHIdentity, string(cred.Passphrase))
	}
	if err != nil {
		return nil, fmt.Errorf("ssh remote: read identity: %w", err)
	}
	if err := os.WriteFile(knownHostsFile, cred.KnownHosts, 0o600); err != nil {
		return nil, fmt.Errorf("ssh remote: write known_hosts: %w", err)
	}
	db, err := gitssh.NewKnownHostsDb(knownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("ssh remote: parse known_hosts: %w", err)
	}
	port := ep.Port
	if port == 0 {
		port = 22
	}
	keys.HostKeyCallbackHelper = gitssh.HostKeyCallbackHelper{
		HostKeyCallback:   db.HostKeyCallback(),
		HostKeyAlgorithms: db.HostKeyAlgorithms(net.JoinHostPort(ep.Host, strconv.Itoa(port))),
	}
	return keys, nil
}

// fetch updates the tracking refs of the given branches (and, with prefix, of every
// branch under it) from the remote. A branch the remote lacks loses its tracking ref,
// so the next commit builds on what the remote has.
func (r *remote) fetch(ctx context.Context, st *safeStorage, branch string, prefix string) error {
	specs := []config.RefSpec{trackingSpec(branch)}
	if prefix != "" {
		specs = append(specs, config.RefSpec(fmt.Sprintf("+refs/heads/%s*:refs/heads/%s*", prefix, prefix)))
	}
	err := r.fetchSpecs(ctx, st, specs, prefix != "")
	var noMatch git.NoMatchingRefSpecError
	switch {
	case errors.As(err, &noMatch), errors.Is(err, transport.ErrEmptyRemoteRepository):
		if err := st.refs.remove(trackingRef(branch)); err != nil {
			return err
		}
		if prefix != "" && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
			return r.fetchSpecs(ctx, st, specs[1:], true)
		}
		return nil
	}
	return err
}

func (r *remote) fetchSpecs(ctx context.Context, st *safeStorage, specs []config.RefSpec, prune bool) error {
	rem := git.NewRemote(st, &config.RemoteConfig{Name: remoteName, URLs: []string{r.url}, Fetch: specs})
	err := rem.FetchContext(ctx, &git.FetchOptions{
		RemoteName: remoteName,
		RefSpecs:   specs,
		Auth:       r.auth,
		Tags:       git.NoTags,
		Prune:      prune,
	})
	if errors.Is(err, git.NoErrAlreadyUpToDate) {
		return nil
	}
	return err
}

func trackingSpec(branch string) config.RefSpec {
	return config.RefSpec(fmt.Sprintf("+refs/heads/%s:refs/heads/%s", branch, branch))
}

// trackingRef is the cache's ref of a remote branch: the branch itself (a mirror).
func trackingRef(branch string) plumbing.ReferenceName {
	return plumbing.NewBranchReferenceName(branch)
}

// refUpdate moves one remote branch from Old to New.
type refUpdate struct {
	Branch   string
	Old, New plumbing.Hash
}

// push sends the pack of the new objects and asks the remote to move each branch from
// the commit it was built on to the new one. It is git's send-pack without the revision
// walk go-git's Push does to find what the remote lacks: that walk reads every object
// reachable from the remote's refs, which on a 10,000-file repository costs more than
// the commit. Here the answer is known: the remote has the base (it advertised it), and
// lacks what was just built. errRemoteMoved means a branch is not at Old any more.
func (r *remote) push(ctx context.Context, updates []refUpdate, pack []byte) error {
	sess, err := r.transport.NewReceivePackSession(r.endpoint, r.auth)
	if err != nil {
		return err
	}
	defer sess.Close()
	adv, err := sess.AdvertisedReferencesContext(ctx)
	if err != nil && !errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return err
	}
	current := map[plumbing.ReferenceName]plumbing.Hash{}
	if adv != nil {
		refs, err := adv.AllReferences()
		if err != nil {
			return err
		}
		for name, ref := range refs {
			current[name] = ref.Hash()
		}
	}
	req := packp.NewReferenceUpdateRequest()
	if adv != nil {
		req = packp.NewReferenceUpdateRequestFromCapabilities(adv.Capabilities)
		if len(updates) > 1 && adv.Capabilities.Supports(capability.Atomic) {
			// All branches of a batch move, or none: a rebuild then starts from one state.
			_ = req.Capabilities.Set(capability.Atomic)
		}
	}
	for _, u := range updates {
		name := plumbing.NewBranchReferenceName(u.Branch)
		if current[name] != u.Old {
			return fmt.Errorf("%w: %s is at %s, not %s", errRemoteMoved, u.Branch, shortHash(current[name]), shortHash(u.Old))
		}
		req.Commands = append(req.Commands, &packp.Command{Name: name, Old: u.Old, New: u.New})
	}

	req.Packfile = io.NopCloser(bytes.NewReader(pack))
	rs, err := sess.ReceivePack(ctx, req)
	if rs != nil {
		// go-git returns the report's first failure as err too; the report says more.
		if rerr := reportError(rs); rerr != nil {
			return rerr
		}
	}
	return err
}

// reportError turns the remote's report into an error: errRemoteMoved for the ways git
// says the ref was not where we said (another writer pushed first), Rejected for a
// refusal (hook, protected branch).
func reportError(rs *packp.ReportStatus) error {
	if rs == nil {
		return nil
	}
	if rs.UnpackStatus != "ok" {
		// The remote could not take the pack; it lacks the base the objects build on
		// (its history was rewritten). Fetching gives a base it has.
		return fmt.Errorf("%w: remote could not unpack: %s", errRemoteMoved, rs.UnpackStatus)
	}
	for _, cs := range rs.CommandStatuses {
		if cs.Status == "ok" {
			continue
		}
		for _, moved := range []string{"non-fast-forward", "fetch first", "stale info", "failed to update ref", "failed to lock", "cannot lock ref", "already exists", "missing necessary objects"} {
			if strings.Contains(cs.Status, moved) {
				return fmt.Errorf("%w: %s: %s", errRemoteMoved, cs.ReferenceName, cs.Status)
			}
		}
		return &Error{Kind: Rejected, Op: "push", Err: fmt.Errorf("remote rejected %s: %s", cs.ReferenceName, cs.Status)}
	}
	return nil
}

func shortHash(h plumbing.Hash) string {
	if h.IsZero() {
		return "nothing"
	}
	return h.String()[:12]
}
