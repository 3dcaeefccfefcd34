package postmortem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"golang.org/x/crypto/ssh/knownhosts"
)

// ErrorKind says how the caller should treat a failed commit or push. Every kind is
// retried: the record must not be lost, and the incident keeps its finalizer until it
// lands. The kind picks the condition reason and how soon to try again.
type ErrorKind int

// Error kinds.
const (
	// Transient: the remote is down, slow or overloaded (network errors, timeouts,
	// HTTP 5xx and 429, a remote that kept moving). Retry with backoff.
	Transient ErrorKind = iota
	// Auth: the remote refused the credentials or the host key did not match
	// known_hosts. Fixing the Secret fixes it; retry slowly.
	Auth
	// Rejected: the remote refused the update itself (a hook, a protected branch).
	Rejected
	// Permanent: the configuration cannot work as it is: an invalid URL, key or path
	// template, a repository that does not exist. Retry only when the spec changes.
	Permanent
)

// String returns the kind's name, usable as a condition reason.
func (k ErrorKind) String() string {
	switch k {
	case Transient:
		return "RemoteUnavailable"
	case Auth:
		return "AuthenticationFailed"
	case Rejected:
		return "PushRejected"
	case Permanent:
		return "InvalidConfiguration"
	}
	return fmt.Sprintf("ErrorKind(%d)", int(k))
}

// Error is a classified failure of an operation on the remote.
type Error struct {
	// Kind of failure.
	Kind ErrorKind
	// Op is what failed: fetch, push, open pull request, configure.
	Op string
	// Err is the cause. It never holds credentials: go-git redacts URLs, and this
	// package never puts a Secret's value into an error.
	Err error
}

// Error implements error.
func (e *Error) Error() string { return fmt.Sprintf("%s: %s: %v", e.Op, e.Kind, e.Err) }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the kind of err: the kind of an *Error in its chain, else Transient,
// so that an unknown failure is retried rather than dropped.
func KindOf(err error) ErrorKind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Transient
}

// IsTransient reports whether err is worth retrying soon.
func IsTransient(err error) bool { return err != nil && KindOf(err) == Transient }

func configError(op string, err error) error { return &Error{Kind: Permanent, Op: op, Err: err} }

// errRemoteMoved says the remote branch is no longer where the commit was built; the
// cure is to fetch and build again.
var errRemoteMoved = errors.New("remote branch moved")

// classify wraps a transport error with its kind.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	return &Error{Kind: kindOfTransportError(err), Op: op, Err: err}
}

func kindOfTransportError(err error) ErrorKind {
	switch {
	case errors.Is(err, errRemoteMoved):
		return Transient
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return Transient
	case errors.Is(err, transport.ErrAuthenticationRequired),
		errors.Is(err, transport.ErrAuthorizationFailed),
		errors.Is(err, transport.ErrInvalidAuthMethod):
		return Auth
	case errors.Is(err, transport.ErrRepositoryNotFound):
		return Permanent
	}
	if code, ok := httpStatus(err); ok {
		switch {
		case code == 401 || code == 403:
			return Auth
		case code == 429 || code >= 500:
			return Transient
		case code >= 400:
			return Permanent
		}
	}
	var keyErr *knownhosts.KeyError
	if errors.As(err, &keyErr) {
		return Auth // the host key is unknown or changed: known_hosts decides
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return Transient
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return Transient
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unable to authenticate"),
		strings.Contains(msg, "no supported methods remain"),
		strings.Contains(msg, "knownhosts:"),
		strings.Contains(msg, "host key mismatch"):
		return Auth
	case strings.Contains(msg, "does not appear to be a git repository"),
		strings.Contains(msg, "repository not found"):
		return Permanent
	}
	return Transient
}

// httpStatus finds the status code of an HTTP transport error. go-git wraps it in a
// plumbing.UnexpectedError, which has no Unwrap.
func httpStatus(err error) (int, bool) {
	var he *githttp.Err
	if errors.As(err, &he) {
		return he.StatusCode(), true
	}
	var ue *plumbing.UnexpectedError
	if errors.As(err, &ue) && errors.As(ue.Err, &he) {
		return he.StatusCode(), true
	}
	return 0, false
}
