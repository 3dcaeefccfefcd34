package notify

import (
	"context"
	"net/http"
	"strconv"
	"time"
)

// PostSigned POSTs a JSON body to rawURL once, the way a webhook channel delivers:
// with the X-Klaxon-Timestamp header and, when signingKey is set, the
// X-Klaxon-Signature over "<timestamp>.<body>" (see WEBHOOK.md), so a receiver
// verifies runbook automation calls with the same VerifyWebhookSignature as
// notifications. header adds headers of the caller's (Idempotency-Key, an event).
//
// Any 2xx is success. Otherwise the error is a *SendError (temporary for 5xx, 408,
// 429 and transport failures, permanent for the rest) whose message names only the
// URL's scheme and host and holds neither the URL nor the key.
func PostSigned(ctx context.Context, client *http.Client, rawURL string, signingKey []byte, header http.Header, body []byte, now time.Time) error {
	secrets := urlSecrets(rawURL)
	if len(signingKey) > 0 {
		secrets = append(secrets, string(signingKey))
	}
	h := http.Header{}
	for k, vs := range header {
		for _, v := range vs {
			h.Add(k, headerValue(v))
		}
	}
	h.Set("Content-Type", "application/json")
	ts := strconv.FormatInt(now.Unix(), 10)
	h.Set(WebhookTimestampHeader, ts)
	if len(signingKey) > 0 {
		h.Set(WebhookSignatureHeader, webhookSignature(signingKey, ts, body))
	}
	res, err := postOnce(ctx, client, rawURL, h, body)
	if err != nil {
		return finishSend(err, secrets)
	}
	if res.Status >= 200 && res.Status < 300 {
		return nil
	}
	return finishSend(classifyHTTP(res, now, "webhook "+redactURL(rawURL), ""), secrets)
}

// RedactURL names an endpoint by scheme and host only, for messages: the path and
// query of a webhook URL often hold a credential.
func RedactURL(raw string) string { return redactURL(raw) }
