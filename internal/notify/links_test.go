package notify

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

var (
	key1 = bytes.Repeat([]byte{1}, 32)
	key2 = bytes.Repeat([]byte{2}, 32)
	lt0  = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
)

// errAny stands for "some error" in tables.
var errAny = errors.New("any error")

func claims() Claims {
	return Claims{Namespace: "team-a", Incident: "db-down", Action: ActionAcknowledge, Responder: "team-a/alice",
		ReopenCount: 2, ExpiresAt: lt0.Add(24 * time.Hour)}
}

func sign(t testing.TB, key []byte, c Claims) string {
	t.Helper()
	tok, err := Sign(key, c)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestSignVerify(t *testing.T) {
	tok := sign(t, key1, claims())
	if strings.ContainsAny(tok, "+/=?&#% ") || len(tok) > 200 {
		t.Errorf("token %q (%d bytes) is not compact and URL-safe", tok, len(tok))
	}
	got, err := Verify([][]byte{key1}, tok, lt0)
	if err != nil || got != claims() {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	// Rotation: a token signed with the previous key verifies while it is listed.
	if _, err := Verify([][]byte{key2, key1}, tok, lt0); err != nil {
		t.Errorf("after rotation: %v", err)
	}
	if _, err := Verify([][]byte{key2}, tok, lt0); !errors.Is(err, ErrSignature) {
		t.Errorf("with the old key dropped: %v", err)
	}
}

func TestVerifyRefuses(t *testing.T) {
	tok := sign(t, key1, claims())
	payload, sig, _ := strings.Cut(tok, ".")
	resolve := claims()
	resolve.Action = ActionResolve
	other := sign(t, key1, resolve)
	otherPayload, _, _ := strings.Cut(other, ".")
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	cases := []struct {
		name  string
		token string
		keys  [][]byte
		now   time.Time
		want  error
	}{
		{"expired", tok, nil, lt0.Add(24 * time.Hour), ErrExpired},
		{"one second before expiry is fine", tok, nil, lt0.Add(24*time.Hour - time.Second), nil},
		{"forged with another key", sign(t, key2, claims()), nil, lt0, ErrSignature},
		{"altered claims", otherPayload + "." + sig, nil, lt0, ErrSignature},
		{"altered payload byte", flip(payload, 5) + "." + sig, nil, lt0, ErrSignature},
		{"altered signature byte", payload + "." + flip(sig, 10), nil, lt0, ErrSignature},
		// Strict decoding: even a change in the unused low bits of the last character,
		// which would decode to the same MAC, is refused.
		{"altered last signature character", payload + "." + flip(sig, len(sig)-1), nil, lt0, errAny},
		{"truncated signature", tok[:len(tok)-1], nil, lt0, ErrTruncated},
		{"truncated to the dot", payload + ".", nil, lt0, ErrTruncated},
		{"truncated before the dot", payload[:10], nil, lt0, ErrMalformed},
		{"empty", "", nil, lt0, ErrMalformed},
		{"two dots", tok + ".x", nil, lt0, ErrMalformed},
		{"signature too long", tok + "AAAA", nil, lt0, ErrMalformed},
		{"signature not base64", payload + "." + strings.Repeat("*", len(sig)), nil, lt0, ErrMalformed},
		{"no keys", tok, [][]byte{}, lt0, ErrNoKey},
		{"only short keys", tok, [][]byte{[]byte("short")}, lt0, ErrNoKey},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			keys := c.keys
			if keys == nil {
				keys = [][]byte{key1}
			}
			_, err := Verify(keys, c.token, c.now)
			switch {
			case c.want == errAny:
				if err == nil {
					t.Error("Verify accepted it")
				}
			case !errors.Is(err, c.want) || (c.want == nil && err != nil):
				t.Errorf("Verify = %v, want %v", err, c.want)
			}
		})
	}
}

func TestSignRefuses(t *testing.T) {
	if _, err := Sign([]byte("short"), claims()); !errors.Is(err, ErrNoKey) {
		t.Errorf("short key: %v", err)
	}
	for _, mutate := range []func(*Claims){
		func(c *Claims) { c.Action = "delete" },
		func(c *Claims) { c.Incident = "" },
		func(c *Claims) { c.ExpiresAt = time.Time{} },
	} {
		c := claims()
		mutate(&c)
		if _, err := Sign(key1, c); !errors.Is(err, ErrClaims) {
			t.Errorf("Sign(%+v) = %v", c, err)
		}
	}
}

// FuzzVerify: no input makes Verify panic or accept a token that Sign did not make
// with the key for exactly those claims.
func FuzzVerify(f *testing.F) {
	tok := sign(f, key1, claims())
	for _, s := range []string{tok, tok[:len(tok)-3], "", ".", "a.b", tok + tok, strings.ToUpper(tok), "eyJ2IjoxfQ." + strings.Repeat("A", 43)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, token string) {
		c, err := Verify([][]byte{key1, key2}, token, lt0)
		if err != nil {
			return
		}
		// Anything accepted must be exactly what Sign produces for its claims.
		again, serr := Sign(key1, c)
		again2, _ := Sign(key2, c)
		if serr != nil || (again != token && again2 != token) {
			t.Fatalf("accepted %q with claims %+v that Sign does not produce", token, c)
		}
	})
}
