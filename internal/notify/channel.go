package notify

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// DefaultAttemptTimeout bounds one delivery attempt when the channel's spec.timeout
// is unset; it matches the CRD's default.
const DefaultAttemptTimeout = 10 * time.Second

// Options tune how the Notifiers that New builds reach their channels.
type Options struct {
	// HTTPClient sends the HTTP channels' requests. Nil means a client with the
	// channel's timeout. Either way redirects are not followed: a redirected POST
	// turns into a GET that drops the message while the receiver answers 200.
	HTTPClient *http.Client
	// Now returns the current time for timestamps, signatures and Retry-After dates;
	// nil means time.Now.
	Now func() time.Time
}

// channelEnv is what every channel implementation shares: the HTTP client, the
// clock and the per-attempt timeout.
type channelEnv struct {
	client  *http.Client
	now     func() time.Time
	timeout time.Duration
}

// New builds the Notifier for a channel. secret is the data of the Secret the
// channel's secretRef names (nil when it names none); New reads exactly the keys
// RequiredSecretKeys lists, plus the optional signingKey of a webhook. An error is a
// configuration error: the channel is not Ready until its spec or Secret changes.
// Errors name Secret keys, never their values.
//
// Each Send of the result makes exactly one attempt bounded by spec.timeout, and
// always fails with a *SendError; retries, rate limits and dedup are the pipeline's.
func New(spec klaxonv1.NotificationChannelSpec, secret map[string][]byte, opts Options) (Notifier, error) {
	if err := CheckSecret(spec, secret); err != nil {
		return nil, err
	}
	env := newChannelEnv(spec, opts)
	switch spec.Type {
	case klaxonv1.ChannelWebhook:
		return newWebhookNotifier(spec, secret, env)
	case klaxonv1.ChannelSlack:
		return newSlackNotifier(spec, secret, env)
	case klaxonv1.ChannelMSTeams:
		return newTeamsNotifier(secret, env)
	case klaxonv1.ChannelEmail:
		return newEmailNotifier(spec, secret, env)
	case klaxonv1.ChannelPagerDuty:
		return newPagerDutyNotifier(spec, secret, env)
	}
	return nil, fmt.Errorf("unsupported channel type %q", spec.Type)
}

func newChannelEnv(spec klaxonv1.NotificationChannelSpec, opts Options) channelEnv {
	env := channelEnv{now: opts.Now, timeout: spec.Timeout.Duration}
	if env.now == nil {
		env.now = time.Now
	}
	if env.timeout <= 0 {
		env.timeout = DefaultAttemptTimeout
	}
	var c http.Client
	if opts.HTTPClient != nil {
		// A shallow copy shares the caller's transport and connection pool while
		// letting us change the redirect policy without touching their client.
		c = *opts.HTTPClient
	} else {
		c.Timeout = env.timeout
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	env.client = &c
	return env
}

// attempt returns the context of one attempt: the caller's, bounded by the
// channel's timeout.
func (e channelEnv) attempt(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.timeout)
}

// messageHeadline is the subject, else the incident's title, else its name, on
// one line.
func messageHeadline(m Message) string {
	for _, s := range []string{m.Subject, m.Incident.Title} {
		if s = strings.TrimSpace(oneLine(s)); s != "" {
			return s
		}
	}
	if m.Incident.Name != "" {
		return "Incident " + m.Incident.Namespace + "/" + m.Incident.Name
	}
	return "Incident"
}

// severityHeadline is the headline on one line, led by the severity unless the
// template already put it there ("[SEV1] Checkout down").
func severityHeadline(m Message, sep string) string {
	head := messageHeadline(m)
	sev := string(m.Incident.Severity)
	if sev == "" || strings.Contains(head, sev) {
		return head
	}
	return sev + sep + head
}

// secretString reads one key of a channel's Secret without surrounding white
// space: a Secret made from a file often ends in a newline, which no URL, token or
// routing key contains and which Go refuses in a header. Passwords and signing
// keys are read as they are.
func secretString(secret map[string][]byte, key string) string {
	return strings.TrimSpace(string(secret[key]))
}
