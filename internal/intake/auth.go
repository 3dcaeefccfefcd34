package intake

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/signature"
)

// Header defaults, the same as the CRD's, for specs built in code.
const (
	DefaultSignatureHeader = signature.SignatureHeader
	DefaultTimestampHeader = signature.TimestampHeader
)

// SignatureWindow is how far a signed timestamp may be from the receiver's clock,
// either way, inclusive: a request signed exactly 5 minutes ago is accepted, one
// signed 5 minutes and 1 second ago is not. A replay inside the window is accepted;
// deduplication makes it harmless.
const SignatureWindow = signature.DefaultWindow

// Authentication outcomes. The server answers 401 for both and says no more than their
// text: which credential or which part of it was wrong is only in AuthError.Reason,
// for the server's log.
var (
	ErrMissingCredentials = errors.New("missing credentials")
	ErrInvalidCredentials = errors.New("invalid credentials")
	// ErrSecretIncomplete means the source's Secret lacks a key its auth type needs:
	// nobody can authenticate until the owner fixes it. It wraps the key names, never
	// values. (503 lets Alertmanager retry meanwhile instead of dropping alerts.)
	ErrSecretIncomplete = errors.New("the endpoint's Secret is incomplete")
)

// AuthError is a refused request: Err is ErrMissingCredentials or ErrInvalidCredentials
// and is all Error() says; Reason is a detail for the server's log. Neither holds a
// secret or a presented credential.
type AuthError struct {
	Err    error
	Reason string
}

// Error says only whether credentials were missing or invalid.
func (e *AuthError) Error() string { return e.Err.Error() }

// Unwrap lets errors.Is match ErrMissingCredentials and ErrInvalidCredentials.
func (e *AuthError) Unwrap() error { return e.Err }

func missing(reason string) error { return &AuthError{Err: ErrMissingCredentials, Reason: reason} }
func invalid(reason string) error { return &AuthError{Err: ErrInvalidCredentials, Reason: reason} }

// RequiredSecretKeys returns the Secret keys an auth type cannot do without.
func RequiredSecretKeys(t klaxonv1.AuthType) []string {
	switch t {
	case klaxonv1.AuthBearer:
		return []string{klaxonv1.SecretKeyAuthToken}
	case klaxonv1.AuthBasic:
		return []string{klaxonv1.SecretKeyUsername, klaxonv1.SecretKeyPassword}
	case klaxonv1.AuthHMAC:
		return []string{klaxonv1.SecretKeyHMACKey}
	}
	return nil
}

// CheckSecret reports whether a Secret holds every key the auth type needs, for the
// source's Ready condition. The error names keys, never values.
func CheckSecret(auth klaxonv1.EndpointAuth, secret map[string][]byte) error {
	keys := RequiredSecretKeys(auth.Type)
	if keys == nil {
		return fmt.Errorf("auth type %q is not one of Bearer, Basic, HMAC", auth.Type)
	}
	var lacking []string
	for _, k := range keys {
		if len(secret[k]) == 0 {
			lacking = append(lacking, k)
		}
	}
	if len(lacking) > 0 {
		return fmt.Errorf("%w: secret %q lacks key(s) %q needed by %s auth", ErrSecretIncomplete, auth.SecretRef.Name, lacking, auth.Type)
	}
	return nil
}

// Authenticate checks a request's credentials against the source's Secret: a bearer
// token, basic auth, or an HMAC-SHA256 signature over "<timestamp>.<body>" whose
// timestamp is within SignatureWindow of now. The current and the previous value of a
// rotated credential are both accepted. Comparisons take the same time whatever the
// input. It returns nil, an *AuthError, or an error wrapping ErrSecretIncomplete.
func Authenticate(auth klaxonv1.EndpointAuth, secret map[string][]byte, header http.Header, body []byte, now time.Time) error {
	if err := CheckSecret(auth, secret); err != nil {
		return err
	}
	switch auth.Type {
	case klaxonv1.AuthBearer:
		return checkBearer(secret, header)
	case klaxonv1.AuthBasic:
		return checkBasic(secret, header)
	default: // HMAC; CheckSecret refused anything else.
		return checkHMAC(auth, secret, header, body, now)
	}
}

func checkBearer(secret map[string][]byte, header http.Header) error {
	token, ok := authorization(header, "Bearer")
	if !ok {
		return missing("no Authorization: Bearer header")
	}
	if token == "" {
		return missing("empty bearer token")
	}
	match := equalSecret([]byte(token), secretText(secret, klaxonv1.SecretKeyAuthToken)) |
		equalSecret([]byte(token), secretText(secret, klaxonv1.SecretKeyAuthPreviousToken))
	if match != 1 {
		return invalid("bearer token does not match token or previousToken")
	}
	return nil
}

func checkBasic(secret map[string][]byte, header http.Header) error {
	encoded, ok := authorization(header, "Basic")
	if !ok {
		return missing("no Authorization: Basic header")
	}
	raw, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil {
		return invalid("basic credentials are not base64")
	}
	user, pass, ok := bytes.Cut(raw, []byte(":"))
	if !ok {
		return invalid("basic credentials lack the colon between user and password")
	}
	userOK := equalSecret(user, secretText(secret, klaxonv1.SecretKeyUsername))
	passOK := equalSecret(pass, secretText(secret, klaxonv1.SecretKeyPassword)) |
		equalSecret(pass, secretText(secret, klaxonv1.SecretKeyAuthPrevPassword))
	if userOK&passOK != 1 {
		return invalid("basic credentials do not match username and password or previousPassword")
	}
	return nil
}

func checkHMAC(auth klaxonv1.EndpointAuth, secret map[string][]byte, header http.Header, body []byte, now time.Time) error {
	sigHeader := cmp.Or(auth.SignatureHeader, DefaultSignatureHeader)
	tsHeader := cmp.Or(auth.TimestampHeader, DefaultTimestampHeader)
	sig, ts := header.Get(sigHeader), header.Get(tsHeader)
	if sig == "" || ts == "" {
		return missing(fmt.Sprintf("no %s or %s header", sigHeader, tsHeader))
	}
	// The signature covers the timestamp: a replayed body with a fresh timestamp
	// never verifies. Both keys are tried during a rotation.
	keys := [][]byte{secret[klaxonv1.SecretKeyHMACKey], secret[klaxonv1.SecretKeyHMACPreviousKey]}
	if err := signature.Verify(keys, ts, sig, body, now, SignatureWindow); err != nil {
		return invalid(fmt.Sprintf("%s/%s: %v", sigHeader, tsHeader, err))
	}
	return nil
}

// Sign returns the signature header value for body sent at timestamp (Unix seconds),
// "sha256=<hex>", which Authenticate accepts with the same key.
func Sign(key []byte, timestamp int64, body []byte) string {
	return signature.Sign(key, strconv.FormatInt(timestamp, 10), body)
}

// authorization returns the credentials of an Authorization header with the scheme,
// which RFC 9110 makes case-insensitive.
func authorization(header http.Header, scheme string) (string, bool) {
	v := header.Get("Authorization")
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) || v[len(scheme)] != ' ' {
		return "", false
	}
	return strings.TrimSpace(v[len(scheme)+1:]), true
}

// equalSecret is 1 when given equals a non-empty want. Comparing SHA-256 digests
// keeps the time independent of where the inputs differ and of the secret's length,
// which subtle.ConstantTimeCompare alone would reveal.
func equalSecret(given, want []byte) int {
	g, w := sha256.Sum256(given), sha256.Sum256(want)
	return subtle.ConstantTimeCompare(g[:], w[:]) & boolInt(len(want) > 0)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// secretText reads a text credential. A trailing newline, which `echo token >file`
// leaves in many Secrets, is dropped: it can never arrive in a header anyway. HMAC keys
// are bytes and are read as they are.
func secretText(secret map[string][]byte, key string) []byte {
	return bytes.TrimRight(secret[key], "\r\n")
}
