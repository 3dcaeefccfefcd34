package notify

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Respond actions a link can carry.
const (
	ActionAcknowledge = "acknowledge"
	ActionResolve     = "resolve"
)

// Errors Verify returns, each for one way a token is refused. The respond endpoint
// answers all of them alike; they are distinct for logs and tests.
var (
	// ErrMalformed: not a token at all (wrong shape or encoding).
	ErrMalformed = errors.New("respond token is malformed")
	// ErrTruncated: the signature is shorter than a whole one, as when a link was cut.
	ErrTruncated = errors.New("respond token is truncated")
	// ErrSignature: no current or previous key signed this content: forged or altered.
	ErrSignature = errors.New("respond token signature is invalid")
	// ErrExpired: the token was valid but its time is up.
	ErrExpired = errors.New("respond token has expired")
	// ErrClaims: a signed token whose claims are unusable (unknown action, no
	// incident, unknown version).
	ErrClaims = errors.New("respond token claims are invalid")
	// ErrNoKey: there is no key to sign or verify with.
	ErrNoKey = errors.New("no respond signing key")
)

// MinKeyLen is the shortest signing key accepted: HMAC-SHA256 is as strong as its key.
const MinKeyLen = 32

// tokenVersion is in every token and in the signed content, so a future format can
// never be mistaken for this one.
const tokenVersion = 1

// Claims are what a respond link says: who may do what to which incident, until when.
type Claims struct {
	// Namespace and Incident name the incident.
	Namespace string
	Incident  string
	// Action is ActionAcknowledge or ActionResolve.
	Action string
	// Responder acting, "namespace/name"; the acknowledgement is recorded as theirs.
	Responder string
	// ReopenCount of the incident when the link was made. The endpoint refuses a link
	// from before a reopen, so an old page cannot acknowledge a new episode.
	ReopenCount int32
	// ExpiresAt is when the link stops working; kept to the second.
	ExpiresAt time.Time
}

// wireClaims is the compact JSON form of Claims.
type wireClaims struct {
	V int    `json:"v"`
	N string `json:"n"`
	I string `json:"i"`
	A string `json:"a"`
	R string `json:"r,omitempty"`
	C int32  `json:"c,omitempty"`
	E int64  `json:"e"`
}

var b64 = base64.RawURLEncoding

// Sign returns a token for claims: URL-safe base64 of compact JSON, a dot, and the
// HMAC-SHA256 of that under key (both unpadded), e.g. for /api/v1/respond/{token}.
// The claims are readable by whoever holds the link; nothing secret goes in them.
func Sign(key []byte, c Claims) (string, error) {
	if len(key) < MinKeyLen {
		return "", fmt.Errorf("sign respond token: key of %d bytes, need %d: %w", len(key), MinKeyLen, ErrNoKey)
	}
	if err := c.validate(); err != nil {
		return "", fmt.Errorf("sign respond token: %w", err)
	}
	raw, err := json.Marshal(wireClaims{V: tokenVersion, N: c.Namespace, I: c.Incident, A: c.Action,
		R: c.Responder, C: c.ReopenCount, E: c.ExpiresAt.Unix()})
	if err != nil {
		return "", fmt.Errorf("sign respond token: %w", err)
	}
	payload := b64.EncodeToString(raw)
	return payload + "." + b64.EncodeToString(mac(key, payload)), nil
}

// Verify checks token against keys (the current key first, then previous ones, so
// links signed before a key rotation keep working until they expire) and returns its
// claims. It refuses a token that is malformed, truncated, signed by none of the keys,
// expired at now, or whose claims are unusable, with the matching error.
func Verify(keys [][]byte, token string, now time.Time) (Claims, error) {
	payload, sig, ok := strings.Cut(token, ".")
	if !ok || payload == "" || strings.Contains(sig, ".") {
		return Claims{}, ErrMalformed
	}
	switch n := b64.EncodedLen(sha256.Size); {
	case len(sig) < n:
		return Claims{}, ErrTruncated
	case len(sig) > n:
		return Claims{}, fmt.Errorf("%w: signature too long", ErrMalformed)
	}
	// Strict: one signature has one spelling, so an altered token never verifies.
	got, err := b64.Strict().DecodeString(sig)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: signature: %v", ErrMalformed, err)
	}
	signed := false
	usable := 0
	for _, k := range keys {
		if len(k) < MinKeyLen {
			continue
		}
		usable++
		// Every key is checked, in constant time, so timing says nothing about which.
		if hmac.Equal(got, mac(k, payload)) {
			signed = true
		}
	}
	if usable == 0 {
		return Claims{}, ErrNoKey
	}
	if !signed {
		return Claims{}, ErrSignature
	}

	// Only content a key signed is parsed.
	raw, err := b64.DecodeString(payload)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: payload: %v", ErrClaims, err)
	}
	var w wireClaims
	if err := json.Unmarshal(raw, &w); err != nil {
		return Claims{}, fmt.Errorf("%w: %v", ErrClaims, err)
	}
	if w.V != tokenVersion {
		return Claims{}, fmt.Errorf("%w: version %d", ErrClaims, w.V)
	}
	c := Claims{Namespace: w.N, Incident: w.I, Action: w.A, Responder: w.R, ReopenCount: w.C,
		ExpiresAt: time.Unix(w.E, 0).UTC()}
	if err := c.validate(); err != nil {
		return Claims{}, err
	}
	if !now.Before(c.ExpiresAt) {
		return Claims{}, fmt.Errorf("%w at %s", ErrExpired, c.ExpiresAt.Format(time.RFC3339))
	}
	return c, nil
}

func (c Claims) validate() error {
	switch {
	case c.Namespace == "" || c.Incident == "":
		return fmt.Errorf("%w: no incident", ErrClaims)
	case c.Action != ActionAcknowledge && c.Action != ActionResolve:
		return fmt.Errorf("%w: action %q", ErrClaims, c.Action)
	case c.ExpiresAt.IsZero():
		return fmt.Errorf("%w: no expiry", ErrClaims)
	}
	return nil
}

// mac is the HMAC-SHA256 of the versioned payload under key.
func mac(key []byte, payload string) []byte {
	h := hmac.New(sha256.New, key)
	_, _ = fmt.Fprintf(h, "klaxon-respond-v%d.%s", tokenVersion, payload)
	return h.Sum(nil)
}
