package notify

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// This file holds what the HTTP channels (webhook, slack, msteams, pagerduty) share:
// one POST, the classification of its outcome into a *SendError, and the scrubbing
// that keeps credentials out of error messages.

const (
	// maxResponseBody is how much of a response is read: enough for an error
	// message, bounded so a misbehaving receiver cannot exhaust memory.
	maxResponseBody = 64 << 10
	// maxRetryAfter caps a Retry-After value, so a hostile or broken receiver
	// cannot park a page for days (and the Duration cannot overflow).
	maxRetryAfter = time.Hour
	// maxErrorSnippet is how many characters of a response body an error quotes.
	maxErrorSnippet = 200
	// userAgent identifies Klaxon to receivers.
	userAgent = "Klaxon"
)

// httpResponse is what one POST got back.
type httpResponse struct {
	Status int
	Header http.Header
	Body   []byte
}

// postOnce sends body to rawURL once. A transport failure comes back as a temporary
// *SendError naming only the target's scheme and host: the rest of a Slack or Teams
// webhook URL is a credential.
func postOnce(ctx context.Context, client *http.Client, rawURL string, header http.Header, body []byte) (httpResponse, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		// NewRequest quotes the URL in its error: never pass it on.
		return httpResponse{}, &SendError{Err: fmt.Errorf("build request to %s: invalid URL", redactURL(rawURL)), Permanent: true}
	}
	for k, vs := range header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", userAgent)
	}
	resp, err := client.Do(req)
	if err != nil {
		return httpResponse{}, transportError(ctx, "post to "+redactURL(rawURL), err)
	}
	defer func() { _ = resp.Body.Close() }()
	// The status decides the outcome; a body cut short by a broken connection only
	// shortens the error message, so a read error is not an error here.
	data, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponseBody))
	// Drain a little more so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBody))
	return httpResponse{Status: resp.StatusCode, Header: resp.Header, Body: data}, nil
}

// transportError classifies a failure to get any response: timeouts, refused and
// reset connections are temporary; a certificate the system does not trust is a
// configuration error that retrying will not fix. The *url.Error wrapper, which
// quotes the full URL, is dropped.
func transportError(ctx context.Context, what string, err error) *SendError {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		err = uerr.Err
	}
	var (
		verifyErr   *tls.CertificateVerificationError
		unknownAuth x509.UnknownAuthorityError
		hostErr     x509.HostnameError
		invalidCert x509.CertificateInvalidError
	)
	permanent := errors.As(err, &verifyErr) || errors.As(err, &unknownAuth) ||
		errors.As(err, &hostErr) || errors.As(err, &invalidCert)
	if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
		err = fmt.Errorf("%w (%w)", err, ctxErr)
	}
	return &SendError{Err: fmt.Errorf("%s: %w", what, err), Permanent: permanent}
}

// classifyHTTP turns a response that is not a success into a *SendError: 5xx, 429
// and 408 are temporary and carry Retry-After when the receiver sent one (429 and
// 503 do); 3xx (never followed: a redirected POST would silently turn into a GET)
// and other 4xx are permanent. what names the target without credentials; detail, when not empty,
// is the receiver's own error code or message.
func classifyHTTP(res httpResponse, now time.Time, what, detail string) *SendError {
	if detail == "" {
		detail = bodySnippet(res.Body)
	}
	msg := fmt.Sprintf("%s answered %s", what, statusText(res.Status))
	if detail != "" {
		msg += ": " + detail
	}
	se := &SendError{Err: errors.New(msg), StatusCode: res.Status}
	if res.Status >= 500 || res.Status == http.StatusTooManyRequests || res.Status == http.StatusRequestTimeout {
		se.RetryAfter = retryAfterFromHeader(res.Header, now)
	} else {
		se.Permanent = true
	}
	return se
}

func statusText(code int) string {
	if t := http.StatusText(code); t != "" {
		return fmt.Sprintf("%d %s", code, t)
	}
	return strconv.Itoa(code)
}

// retryAfterFromHeader reads Retry-After as delay-seconds or an HTTP-date (RFC 9110
// section 10.2.3). Missing, malformed or past values give 0: the caller's own
// backoff applies.
func retryAfterFromHeader(h http.Header, now time.Time) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter
		}
		d = time.Duration(secs) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}

// bodySnippet quotes the start of a response body on one line, for error messages.
func bodySnippet(body []byte) string {
	s := strings.ToValidUTF8(string(body), "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.IsSpace(r) {
			return ' '
		}
		return r
	}, s)
	s = strings.Join(strings.Fields(s), " ")
	return truncateRunes(s, maxErrorSnippet)
}

// redactURL names an endpoint by scheme and host only. Webhook URLs carry their
// secret in the path or query (Slack's /services/T/B/secret, a Teams workflow's sig=).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "<invalid URL>"
	}
	return u.Scheme + "://" + u.Host
}

// urlSecrets returns the parts of a URL that must never appear in an error: the
// whole URL, its path, query, their long segments and values, and its password.
// Short parts are left out, so that scrubbing "/" or "/hook" cannot mangle
// unrelated text.
func urlSecrets(raw string) []string {
	out := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	for _, s := range []string{u.EscapedPath(), u.Path, u.RawQuery} {
		if len(s) >= 8 {
			out = append(out, s)
		}
	}
	// Each long path segment and query value too: a receiver may echo the URL
	// re-encoded (JSON escapes "&", some encoders "/"), which the forms above miss.
	for _, seg := range strings.Split(u.Path, "/") {
		if len(seg) >= 12 {
			out = append(out, seg)
		}
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if len(v) >= 12 {
				out = append(out, v)
			}
		}
	}
	if p, ok := u.User.Password(); ok && p != "" {
		out = append(out, p)
	}
	return out
}

// scrubbedError replaces every credential in an error's message; Unwrap keeps the
// chain for errors.Is (timeouts, cancellation).
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// finishSend makes err a *SendError whose message holds none of the secrets. It is
// the last step of every Send: a webhook URL, token, routing key or password must
// never reach a log, an event or the incident's status.
func finishSend(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	var se *SendError
	if !errors.As(err, &se) {
		se = &SendError{Err: err}
	}
	out := *se
	if msg := out.Err.Error(); msg != "" {
		if clean := scrubSecrets(msg, secrets); clean != msg {
			out.Err = &scrubbedError{msg: clean, err: out.Err}
		}
	}
	return &out
}

// scrubSecrets replaces each non-empty secret in s, and its URL-escaped forms.
func scrubSecrets(s string, secrets []string) string {
	for _, sec := range secrets {
		if sec == "" {
			continue
		}
		for _, form := range []string{sec, url.QueryEscape(sec), url.PathEscape(sec)} {
			s = strings.ReplaceAll(s, form, "[REDACTED]")
		}
	}
	return s
}

// truncateRunes shortens s to at most limit characters (Unicode code points),
// ending it with an ellipsis when it had to cut. Invalid UTF-8 becomes U+FFFD
// first, so the count matches what JSON encoding produces.
func truncateRunes(s string, limit int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if limit <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	n := 0
	for i := range s {
		if n == limit-1 {
			return s[:i] + "…"
		}
		n++
	}
	return s
}

// runePrefix returns the first n characters of s.
func runePrefix(s string, n int) string {
	i := 0
	for j := range s {
		if i == n {
			return s[:j]
		}
		i++
	}
	return s
}

// jsonStringLen is how many bytes s takes inside a JSON string as jsonMarshal
// writes it, so a size budget can be met without encoding again and again.
func jsonStringLen(s string) int {
	n := 0
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == '\n' || r == '\r' || r == '\t':
			n += 2
		case r < 0x20 || r == '\u2028' || r == '\u2029':
			n += 6 // \u00XX; encoding/json escapes the two line separators too
		case r == utf8.RuneError:
			n += 6 // invalid UTF-8 becomes \ufffd
		default:
			n += utf8.RuneLen(r)
		}
	}
	return n
}

// fitJSONText returns s, or its longest prefix ending in an ellipsis, whose JSON
// string content takes at most budget bytes; "" when not even that fits.
func fitJSONText(s string, budget int) string {
	if jsonStringLen(s) <= budget {
		return s
	}
	budget -= len("…")
	used := 0
	for i, r := range s {
		w := jsonStringLen(string(r))
		if used+w > budget {
			if i == 0 {
				return ""
			}
			return s[:i] + "…"
		}
		used += w
	}
	return s
}

// isHTTPURL reports whether raw is an absolute http or https URL.
func isHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// webURL returns raw when it is an absolute http(s) URL of at most maxLen bytes,
// and "" otherwise: chat services reject a whole message over one bad link, so a
// bad link is left out instead.
func webURL(raw string, maxLen int) string {
	if raw == "" || len(raw) > maxLen {
		return ""
	}
	if !isHTTPURL(raw) || strings.ContainsAny(raw, " \t\r\n") {
		return ""
	}
	return raw
}

// jsonMarshal encodes v without HTML escaping: receivers are JSON parsers, not
// browsers, and "\u003c" for every "<" wastes a size budget such as Teams' 28 KB.
func jsonMarshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}
