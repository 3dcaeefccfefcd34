package notify

import (
	"fmt"
	"net/url"
	"sort"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// RequiredSecretKeys returns the keys a channel's Secret must hold for its type and
// settings. A channel whose Secret lacks one is not Ready.
func RequiredSecretKeys(spec klaxonv1.NotificationChannelSpec) []string {
	switch spec.Type {
	case klaxonv1.ChannelWebhook:
		if spec.Webhook == nil || spec.Webhook.URL == "" {
			return []string{klaxonv1.SecretKeyURL}
		}
	case klaxonv1.ChannelSlack:
		if spec.Slack != nil && spec.Slack.Mode == klaxonv1.SlackAPI {
			return []string{klaxonv1.SecretKeyToken}
		}
		return []string{klaxonv1.SecretKeyURL}
	case klaxonv1.ChannelMSTeams:
		return []string{klaxonv1.SecretKeyURL}
	case klaxonv1.ChannelEmail:
		if spec.SecretRef != nil {
			return []string{klaxonv1.SecretKeyUsername, klaxonv1.SecretKeyPassword}
		}
	case klaxonv1.ChannelPagerDuty:
		return []string{klaxonv1.SecretKeyRoutingKey}
	}
	return nil
}

// CheckSecret verifies that a channel's Secret data holds every key its type needs and
// that URLs in it are usable. Messages name keys, never values: a webhook URL is a
// credential.
func CheckSecret(spec klaxonv1.NotificationChannelSpec, data map[string][]byte) error {
	var missing []string
	for _, k := range RequiredSecretKeys(spec) {
		if len(data[k]) == 0 {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("secret %q lacks key(s) %q needed by a %s channel", secretName(spec), missing, spec.Type)
	}
	if raw, ok := data[klaxonv1.SecretKeyURL]; ok && len(raw) > 0 {
		u, err := url.Parse(string(raw))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("secret %q key %q is not an http(s) URL", secretName(spec), klaxonv1.SecretKeyURL)
		}
	}
	return nil
}

func secretName(spec klaxonv1.NotificationChannelSpec) string {
	if spec.SecretRef == nil {
		return ""
	}
	return spec.SecretRef.Name
}
