package intake

import (
	"encoding/base64"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

var (
	bearerAuth = klaxonv1.EndpointAuth{Type: klaxonv1.AuthBearer, SecretRef: klaxonv1.SecretReference{Name: "am-token"}}
	basicAuth  = klaxonv1.EndpointAuth{Type: klaxonv1.AuthBasic, SecretRef: klaxonv1.SecretReference{Name: "grafana-basic"}}
	hmacAuth   = klaxonv1.EndpointAuth{Type: klaxonv1.AuthHMAC, SecretRef: klaxonv1.SecretReference{Name: "hook-key"}}

	authSecret = map[string][]byte{
		klaxonv1.SecretKeyAuthToken:         []byte("s3cr3t-current\n"), // as `echo ... >file` leaves it
		klaxonv1.SecretKeyAuthPreviousToken: []byte("s3cr3t-previous"),
		klaxonv1.SecretKeyUsername:          []byte("grafana"),
		klaxonv1.SecretKeyPassword:          []byte("pa55-current"),
		klaxonv1.SecretKeyAuthPrevPassword:  []byte("pa55-previous"),
		klaxonv1.SecretKeyHMACKey:           []byte("k3y-current"),
		klaxonv1.SecretKeyHMACPreviousKey:   []byte("k3y-previous"),
	}
	secretValues = []string{"s3cr3t", "pa55", "k3y", "grafana:"}
)

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// wantAuth checks the outcome, and that nothing in the error repeats a secret.
func wantAuth(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("refused: %v (%+v)", err, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
	var ae *AuthError
	if errors.As(err, &ae) {
		if ae.Error() != want.Error() {
			t.Errorf("Error() = %q says more than %q", ae.Error(), want.Error())
		}
		for _, s := range secretValues {
			if strings.Contains(ae.Reason, s) {
				t.Errorf("reason %q contains a credential", ae.Reason)
			}
		}
	}
	for _, s := range secretValues {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains a credential", err)
		}
	}
}

func TestAuthenticateBearer(t *testing.T) {
	for _, tc := range []struct {
		name, authorization string
		want                error
	}{
		{"current token", "Bearer s3cr3t-current", nil},
		{"previous token during rotation", "Bearer s3cr3t-previous", nil},
		{"scheme is case-insensitive", "bearer s3cr3t-current", nil},
		{"wrong token", "Bearer s3cr3t-currenT", ErrInvalidCredentials},
		{"token prefix", "Bearer s3cr3t", ErrInvalidCredentials},
		{"token with newline from the secret", "Bearer s3cr3t-current\n", nil}, // header values are trimmed by net/http anyway
		{"no header", "", ErrMissingCredentials},
		{"empty token", "Bearer ", ErrMissingCredentials},
		{"basic instead", basic("x", "s3cr3t-current"), ErrMissingCredentials},
		{"no space", "Bearers3cr3t-current", ErrMissingCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := header("Authorization", tc.authorization)
			wantAuth(t, Authenticate(bearerAuth, authSecret, h, nil, now), tc.want)
		})
	}
}

func TestAuthenticateBearerWithoutPreviousToken(t *testing.T) {
	secret := map[string][]byte{klaxonv1.SecretKeyAuthToken: []byte("only")}
	// An empty previousToken must not let an empty or any other token in.
	wantAuth(t, Authenticate(bearerAuth, secret, header("Authorization", "Bearer only"), nil, now), nil)
	wantAuth(t, Authenticate(bearerAuth, secret, header("Authorization", "Bearer other"), nil, now), ErrInvalidCredentials)
}

func TestAuthenticateBasic(t *testing.T) {
	for _, tc := range []struct {
		name, authorization string
		want                error
	}{
		{"current password", basic("grafana", "pa55-current"), nil},
		{"previous password during rotation", basic("grafana", "pa55-previous"), nil},
		{"password with a colon stays whole", basic("grafana", "pa55-current:x"), ErrInvalidCredentials},
		{"wrong password", basic("grafana", "pa55"), ErrInvalidCredentials},
		{"wrong user", basic("grafana2", "pa55-current"), ErrInvalidCredentials},
		{"empty password", basic("grafana", ""), ErrInvalidCredentials},
		{"not base64", "Basic !!!", ErrInvalidCredentials},
		{"no colon", "Basic " + base64.StdEncoding.EncodeToString([]byte("grafana")), ErrInvalidCredentials},
		{"bearer instead", "Bearer pa55-current", ErrMissingCredentials},
		{"no header", "", ErrMissingCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := header("Authorization", tc.authorization)
			wantAuth(t, Authenticate(basicAuth, authSecret, h, nil, now), tc.want)
		})
	}
}

func TestAuthenticateHMAC(t *testing.T) {
	body := []byte(`{"version":"4","alerts":[]}`)
	signedAt := now.Unix()
	ts := strconv.FormatInt(signedAt, 10)
	sig := Sign([]byte("k3y-current"), signedAt, body)
	signed := func(kv ...string) http.Header {
		return header(append([]string{DefaultSignatureHeader, sig, DefaultTimestampHeader, ts}, kv...)...)
	}
	for _, tc := range []struct {
		name   string
		auth   klaxonv1.EndpointAuth
		header http.Header
		body   []byte
		at     time.Time
		want   error
	}{
		{"signed now", hmacAuth, signed(), body, now, nil},
		{"previous key during rotation", hmacAuth, header(DefaultSignatureHeader, Sign([]byte("k3y-previous"), signedAt, body), DefaultTimestampHeader, ts), body, now, nil},
		{"unknown key", hmacAuth, header(DefaultSignatureHeader, Sign([]byte("k3y-other"), signedAt, body), DefaultTimestampHeader, ts), body, now, ErrInvalidCredentials},
		{"body changed", hmacAuth, signed(), []byte(`{"version":"4","alerts":[{}]}`), now, ErrInvalidCredentials},
		{"timestamp changed", hmacAuth, signed(DefaultTimestampHeader, strconv.FormatInt(signedAt-1, 10)), body, now, ErrInvalidCredentials},
		// The window is inclusive on both sides, to the second.
		{"received exactly 5m later", hmacAuth, signed(), body, now.Add(5 * time.Minute), nil},
		{"received 5m1s later", hmacAuth, signed(), body, now.Add(5*time.Minute + time.Second), ErrInvalidCredentials},
		{"received 5m and a fraction later", hmacAuth, signed(), body, now.Add(5*time.Minute + time.Millisecond), ErrInvalidCredentials},
		{"sender clock exactly 5m ahead", hmacAuth, signed(), body, now.Add(-5 * time.Minute), nil},
		{"sender clock 5m1s ahead", hmacAuth, signed(), body, now.Add(-5*time.Minute - time.Second), ErrInvalidCredentials},
		{"prefix is case-insensitive", hmacAuth, signed(DefaultSignatureHeader, "SHA256="+strings.TrimPrefix(sig, "sha256=")), body, now, nil},
		{"upper-case hex", hmacAuth, signed(DefaultSignatureHeader, "sha256="+strings.ToUpper(strings.TrimPrefix(sig, "sha256="))), body, now, nil},
		{"no prefix", hmacAuth, signed(DefaultSignatureHeader, strings.TrimPrefix(sig, "sha256=")), body, now, ErrInvalidCredentials},
		{"sha1", hmacAuth, signed(DefaultSignatureHeader, "sha1=0123"), body, now, ErrInvalidCredentials},
		{"short digest", hmacAuth, signed(DefaultSignatureHeader, sig[:20]), body, now, ErrInvalidCredentials},
		{"not hex", hmacAuth, signed(DefaultSignatureHeader, "sha256="+strings.Repeat("zz", 32)), body, now, ErrInvalidCredentials},
		{"timestamp in milliseconds", hmacAuth, signed(DefaultTimestampHeader, ts+"000"), body, now, ErrInvalidCredentials},
		{"timestamp not a number", hmacAuth, signed(DefaultTimestampHeader, "yesterday"), body, now, ErrInvalidCredentials},
		{"negative timestamp", hmacAuth, signed(DefaultTimestampHeader, "-1"), body, now, ErrInvalidCredentials},
		{"no signature", hmacAuth, header(DefaultTimestampHeader, ts), body, now, ErrMissingCredentials},
		{"no timestamp", hmacAuth, header(DefaultSignatureHeader, sig), body, now, ErrMissingCredentials},
		{"custom headers", klaxonv1.EndpointAuth{Type: klaxonv1.AuthHMAC, SignatureHeader: "X-Hub-Signature-256", TimestampHeader: "X-Hub-Timestamp"},
			header("X-Hub-Signature-256", sig, "X-Hub-Timestamp", ts), body, now, nil},
		{"default headers when custom ones are set", klaxonv1.EndpointAuth{Type: klaxonv1.AuthHMAC, SignatureHeader: "X-Hub-Signature-256", TimestampHeader: "X-Hub-Timestamp"},
			signed(), body, now, ErrMissingCredentials},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantAuth(t, Authenticate(tc.auth, authSecret, tc.header, tc.body, tc.at), tc.want)
		})
	}
}

func TestSignKnownVector(t *testing.T) {
	// echo -n '1700000000.{}' | openssl dgst -sha256 -hmac key
	const want = "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"
	if got := Sign([]byte("key"), 1700000000, []byte("{}")); got != want {
		t.Errorf("Sign = %s, want %s", got, want)
	}
}

func TestAuthenticateIncompleteSecret(t *testing.T) {
	for _, tc := range []struct {
		auth    klaxonv1.EndpointAuth
		secret  map[string][]byte
		missing string
	}{
		{bearerAuth, map[string][]byte{klaxonv1.SecretKeyAuthPreviousToken: []byte("s3cr3t-previous")}, "token"},
		{basicAuth, map[string][]byte{klaxonv1.SecretKeyUsername: []byte("grafana")}, "password"},
		{basicAuth, map[string][]byte{klaxonv1.SecretKeyPassword: []byte("pa55-current")}, "username"},
		{hmacAuth, map[string][]byte{klaxonv1.SecretKeyHMACPreviousKey: []byte("k3y-previous")}, "key"},
	} {
		err := Authenticate(tc.auth, tc.secret, header("Authorization", "Bearer s3cr3t-previous"), nil, now)
		if !errors.Is(err, ErrSecretIncomplete) || !strings.Contains(err.Error(), strconv.Quote(tc.missing)) {
			t.Errorf("%s: %v, want ErrSecretIncomplete naming %q", tc.auth.Type, err, tc.missing)
		}
		var ae *AuthError
		if errors.As(err, &ae) {
			t.Errorf("%s: an incomplete Secret is not the sender's fault", tc.auth.Type)
		}
		wantAuth(t, err, ErrSecretIncomplete)
	}
	if err := CheckSecret(klaxonv1.EndpointAuth{Type: "Digest"}, authSecret); err == nil {
		t.Error("unknown auth type accepted")
	}
	for _, auth := range []klaxonv1.EndpointAuth{bearerAuth, basicAuth, hmacAuth} {
		if err := CheckSecret(auth, authSecret); err != nil {
			t.Errorf("%s: %v", auth.Type, err)
		}
	}
}

// FuzzAuthenticate presents arbitrary credentials of every type. It must never panic,
// must answer only missing or invalid, and must accept only what the Secret holds.
func FuzzAuthenticate(f *testing.F) {
	body := []byte(`{"version":"4"}`)
	ts := strconv.FormatInt(now.Unix(), 10)
	f.Add(uint8(0), "Bearer s3cr3t-current", "", "", body, int64(0))
	f.Add(uint8(1), basic("grafana", "pa55-previous"), "", "", body, int64(0))
	f.Add(uint8(2), "", Sign([]byte("k3y-current"), now.Unix(), body), ts, body, int64(300))
	f.Add(uint8(2), "", Sign([]byte("k3y-previous"), now.Unix(), body), ts, body, int64(-301))
	f.Add(uint8(2), "", "sha256=", "99999999999999999999", body, int64(0))
	f.Add(uint8(1), "Basic Og==", "", "", body, int64(0))
	f.Fuzz(func(t *testing.T, kind uint8, authorization, sig, ts string, body []byte, skew int64) {
		auth := []klaxonv1.EndpointAuth{bearerAuth, basicAuth, hmacAuth}[int(kind)%3]
		h := http.Header{}
		h.Set("Authorization", authorization)
		h.Set(DefaultSignatureHeader, sig)
		h.Set(DefaultTimestampHeader, ts)
		at := now.Add(time.Duration(skew%100000) * time.Second)
		err := Authenticate(auth, authSecret, h, body, at)
		if err != nil {
			if !errors.Is(err, ErrMissingCredentials) && !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("error %v is neither missing nor invalid", err)
			}
			var ae *AuthError
			if !errors.As(err, &ae) {
				t.Fatalf("error %T is not an *AuthError", err)
			}
			for _, s := range secretValues {
				if strings.Contains(ae.Reason, s) || strings.Contains(err.Error(), s) {
					t.Fatalf("error leaks a credential: %q", ae.Reason)
				}
			}
			return
		}
		// Accepted: check independently that the credentials were right.
		switch auth.Type {
		case klaxonv1.AuthBearer:
			token := strings.TrimSpace(h.Get("Authorization")[len("Bearer "):])
			if token != "s3cr3t-current" && token != "s3cr3t-previous" {
				t.Fatalf("accepted bearer token %q", token)
			}
		case klaxonv1.AuthBasic:
			raw, _ := base64.StdEncoding.DecodeString(strings.TrimSpace(h.Get("Authorization")[len("Basic "):]))
			if c := string(raw); c != "grafana:pa55-current" && c != "grafana:pa55-previous" {
				t.Fatalf("accepted basic credentials %q", c)
			}
		case klaxonv1.AuthHMAC:
			unix, _ := strconv.ParseInt(h.Get(DefaultTimestampHeader), 10, 64)
			if d := at.Sub(time.Unix(unix, 0)); d > SignatureWindow || d < -SignatureWindow {
				t.Fatalf("accepted a timestamp %s away", d)
			}
			got := strings.ToLower(h.Get(DefaultSignatureHeader))
			if got != Sign([]byte("k3y-current"), unix, body) && got != Sign([]byte("k3y-previous"), unix, body) {
				t.Fatalf("accepted signature %q", got)
			}
		}
	})
}

// FuzzHMACRoundTrip: what Sign produces, Authenticate accepts within the window and
// refuses outside it, for any key and body.
func FuzzHMACRoundTrip(f *testing.F) {
	f.Add([]byte("key"), []byte("{}"), int64(1700000000), int64(300))
	f.Add([]byte{0}, []byte(nil), int64(0), int64(-301))
	f.Fuzz(func(t *testing.T, key, body []byte, ts, offset int64) {
		if len(key) == 0 || ts < 0 || ts >= 1e12 {
			return
		}
		offset %= 1000
		h := header(DefaultSignatureHeader, Sign(key, ts, body), DefaultTimestampHeader, strconv.FormatInt(ts, 10))
		err := Authenticate(hmacAuth, map[string][]byte{klaxonv1.SecretKeyHMACKey: key}, h, body, time.Unix(ts+offset, 0))
		inside := offset >= -300 && offset <= 300
		if inside && err != nil {
			t.Fatalf("offset %ds refused: %v", offset, err)
		}
		if !inside && !errors.Is(err, ErrInvalidCredentials) {
			t.Fatalf("offset %ds: %v", offset, err)
		}
	})
}
