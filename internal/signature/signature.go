// Package signature is how Klaxon signs HTTP requests and checks signed ones: the
// signature is "sha256=" and the hex HMAC-SHA256 of "<timestamp>.<body>", the
// timestamp being Unix seconds sent in a header of its own. Signing the timestamp with
// the body lets a receiver refuse a captured request replayed later. Outgoing webhook
// notifications and runbook automation calls are signed this way, and intake accepts
// the same signature, so one Klaxon can post to another's intake.
package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Headers Klaxon signs with, and intake reads by default.
const (
	TimestampHeader = "X-Klaxon-Timestamp"
	SignatureHeader = "X-Klaxon-Signature"
)

// Prefix names the algorithm in the signature, as GitHub's webhooks do.
const Prefix = "sha256="

// DefaultWindow is how far a timestamp may be from the receiver's clock.
const DefaultWindow = 5 * time.Minute

// ErrInvalid is wrapped by every error Verify returns.
var ErrInvalid = errors.New("invalid signature")

// Sign returns the signature of body sent at timestamp (as it goes in the header).
func Sign(key []byte, timestamp string, body []byte) string {
	return Prefix + hex.EncodeToString(mac(key, timestamp, body))
}

// Verify checks that signature is the signature of body at timestamp under one of
// keys (during a rotation, the current and the previous key), and that timestamp is
// within window of now (DefaultWindow when window <= 0). The comparison takes
// constant time; the error says which check failed, never the expected value.
func Verify(keys [][]byte, timestamp, signature string, body []byte, now time.Time, window time.Duration) error {
	if window <= 0 {
		window = DefaultWindow
	}
	timestamp = strings.TrimSpace(timestamp)
	secs, ok := parseUnix(timestamp)
	if !ok {
		return fmt.Errorf("%w: the timestamp is not Unix seconds", ErrInvalid)
	}
	if skew := now.Sub(time.Unix(secs, 0)); skew > window || skew < -window {
		return fmt.Errorf("%w: the timestamp is %s from now, outside the %s window", ErrInvalid, skew.Abs().Round(time.Second), window)
	}
	signature = strings.TrimSpace(signature)
	if len(signature) < len(Prefix) || !strings.EqualFold(signature[:len(Prefix)], Prefix) {
		return fmt.Errorf("%w: the signature does not start with %s", ErrInvalid, Prefix)
	}
	given, err := hex.DecodeString(signature[len(Prefix):])
	if err != nil || len(given) != sha256.Size {
		return fmt.Errorf("%w: the signature is not a hex SHA-256 digest", ErrInvalid)
	}
	usable := false
	for _, key := range keys {
		if len(key) == 0 {
			continue
		}
		usable = true
		if hmac.Equal(given, mac(key, timestamp, body)) {
			return nil
		}
	}
	if !usable {
		return fmt.Errorf("%w: no signing key", ErrInvalid)
	}
	return fmt.Errorf("%w: the signature does not match the key", ErrInvalid)
}

func mac(key []byte, timestamp string, body []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(timestamp))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// parseUnix reads decimal Unix seconds, nothing else: no sign, no fraction.
func parseUnix(s string) (int64, bool) {
	if s == "" || len(s) > 12 {
		return 0, false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
