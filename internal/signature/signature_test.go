package signature

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignKnownVector(t *testing.T) {
	// printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac key
	const want = "sha256=a438e398bfafc57e4396bb7fc2304422f0f768e965d073ca313cb52e22e6ad03"
	if got := Sign([]byte("key"), "1700000000", []byte(`{"a":1}`)); got != want {
		t.Fatalf("Sign = %q, want %q (openssl)", got, want)
	}
}

func TestVerify(t *testing.T) {
	key, prev := []byte("current-key"), []byte("previous-key")
	body := []byte(`{"incident":"db-down"}`)
	now := time.Unix(1_700_000_000, 0)
	ts := "1700000000"
	good := Sign(key, ts, body)
	for _, tc := range []struct {
		name      string
		keys      [][]byte
		ts, sig   string
		body      []byte
		now       time.Time
		window    time.Duration
		wantError string
	}{
		{"valid", [][]byte{key}, ts, good, body, now, 0, ""},
		{"valid under the previous key", [][]byte{[]byte("new"), key}, ts, good, body, now, 0, ""},
		{"upper-case prefix, padded", [][]byte{key}, " " + ts, "SHA256=" + good[7:] + " ", body, now, 0, ""},
		{"just inside the window", [][]byte{key}, ts, good, body, now.Add(5 * time.Minute), 0, ""},
		{"outside the default window", [][]byte{key}, ts, good, body, now.Add(6 * time.Minute), 0, "outside the 5m0s window"},
		{"from the future", [][]byte{key}, ts, good, body, now.Add(-time.Hour), time.Minute, "outside the 1m0s window"},
		{"other key", [][]byte{prev}, ts, good, body, now, 0, "does not match"},
		{"no key", [][]byte{nil}, ts, good, body, now, 0, "no signing key"},
		{"changed body", [][]byte{key}, ts, good, []byte(`{"incident":"other"}`), now, 0, "does not match"},
		{"changed timestamp", [][]byte{key}, "1700000001", good, body, now, 0, "does not match"},
		{"negative timestamp", [][]byte{key}, "-1", good, body, now, 0, "not Unix seconds"},
		{"no prefix", [][]byte{key}, ts, good[7:], body, now, 0, "does not start with sha256="},
		{"not hex", [][]byte{key}, ts, "sha256=zz", body, now, 0, "not a hex SHA-256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.keys, tc.ts, tc.sig, tc.body, tc.now, tc.window)
			if tc.wantError == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantError) {
				t.Fatalf("Verify = %v, want ErrInvalid with %q", err, tc.wantError)
			}
			if strings.Contains(err.Error(), good[7:]) {
				t.Fatalf("the error reveals the expected signature: %v", err)
			}
		})
	}
}
