package webhook

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/localcluster"
)

// TestRejectsWhatControllersWouldRefuse creates, through the API server, objects that
// the schema admits but a controller, intake, a runbook step, a commit or a delivery
// would only find broken later; admission refuses each with the field, and accepts a
// working one of each kind.
func TestRejectsWhatControllersWouldRefuse(t *testing.T) {
	ctx := context.Background()
	ns := newNamespace(t)
	meta := func(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: ns} }
	d := func(s string) metav1.Duration {
		v, err := time.ParseDuration(s)
		if err != nil {
			t.Fatal(err)
		}
		return metav1.Duration{Duration: v}
	}
	bearer := klaxonv1.EndpointAuth{Type: klaxonv1.AuthBearer, SecretRef: klaxonv1.SecretReference{Name: "s"}}
	generic := func(name string, m klaxonv1.AlertMapping) *klaxonv1.AlertSource {
		return &klaxonv1.AlertSource{ObjectMeta: meta(name),
			Spec: klaxonv1.AlertSourceSpec{Format: klaxonv1.FormatGeneric, Auth: bearer, Mapping: &m}}
	}
	heartbeat := func(name, interval string) *klaxonv1.Heartbeat {
		return &klaxonv1.Heartbeat{ObjectMeta: meta(name), Spec: klaxonv1.HeartbeatSpec{Interval: d(interval), Auth: bearer}}
	}
	recurring := func(name, cron, duration, tz string) *klaxonv1.MaintenanceWindow {
		return &klaxonv1.MaintenanceWindow{ObjectMeta: meta(name), Spec: klaxonv1.MaintenanceWindowSpec{
			Recurrence: &klaxonv1.Recurrence{Cron: cron, Duration: d(duration), TimeZone: tz}}}
	}
	notifyStep := func(name, message string) *klaxonv1.Runbook {
		return &klaxonv1.Runbook{ObjectMeta: meta(name), Spec: klaxonv1.RunbookSpec{Steps: []klaxonv1.RunbookStep{{
			Name: "tell", Stage: klaxonv1.StageContain, Automatic: true, Action: &klaxonv1.RunbookAction{Type: klaxonv1.ActionNotify,
				Notify: &klaxonv1.NotifyAction{GroupRef: klaxonv1.ObjectReference{Name: "customers"}, Message: message}}}}}}
	}
	kubeStep := func(name string, k klaxonv1.KubernetesAction) *klaxonv1.Runbook {
		return &klaxonv1.Runbook{ObjectMeta: meta(name), Spec: klaxonv1.RunbookSpec{ServiceAccountName: "runbooks",
			Steps: []klaxonv1.RunbookStep{{Name: "act", Stage: klaxonv1.StageContain,
				Action: &klaxonv1.RunbookAction{Type: klaxonv1.ActionKubernetes, Kubernetes: &k}}}}}
	}
	repo := func(name string, edit func(*klaxonv1.PostmortemRepositorySpec)) *klaxonv1.PostmortemRepository {
		pmr := &klaxonv1.PostmortemRepository{ObjectMeta: meta(name), Spec: klaxonv1.PostmortemRepositorySpec{URL: "file:///srv/postmortems.git"}}
		edit(&pmr.Spec)
		return pmr
	}
	channel := func(name string, spec klaxonv1.NotificationChannelSpec) *klaxonv1.NotificationChannel {
		return &klaxonv1.NotificationChannel{ObjectMeta: meta(name), Spec: spec}
	}
	replicas := int32(0)

	tests := []admissionCase{
		// AlertSource: the mapping compiles as intake compiles it.
		{"alert source: JSONPath that does not parse", generic("bad-path", klaxonv1.AlertMapping{Title: "{.alert.title"}),
			`spec.mapping.title: invalid JSONPath "{.alert.title"`},
		{"alert source: range in a field", generic("range", klaxonv1.AlertMapping{Title: "{.title}", Severity: "{range .items[*]}{.sev}{end}"}),
			"spec.mapping.severity: range and end are not supported"},
		{"alert source: good mapping", generic("good-mapping", klaxonv1.AlertMapping{Alerts: "{.alerts}", Title: "{.summary}", Severity: ".level"}), ""},

		// Heartbeat: the interval pattern admits 0s.
		{"heartbeat: zero interval", heartbeat("never", "0s"), "spec.interval: must be positive, got 0s"},
		{"heartbeat: hourly", heartbeat("hourly", "1h"), ""},

		// MaintenanceWindow: the window compiles as the controller and intake compile it.
		{"window: cron that does not parse", recurring("bad-cron", "61 2 * * *", "1h", "UTC"), "spec.recurrence.cron: cannot parse"},
		{"window: cron that never matches", recurring("feb30", "0 2 30 2 *", "1h", "UTC"), `spec.recurrence.cron: "0 2 30 2 *" never matches a date`},
		{"window: unknown time zone", recurring("atlantis", "0 2 * * 6", "1h", "Europe/Atlantis"), `spec.recurrence.timeZone: unknown time zone "Europe/Atlantis"`},
		{"window: zero duration", recurring("instant", "0 2 * * 6", "0s", "UTC"), "spec.recurrence.duration: must be positive"},
		{"window: every Saturday night in Berlin", recurring("saturdays", "0 2 * * 6", "2h", "Europe/Berlin"), ""},

		// Runbook: steps that could only fail when they run.
		{"runbook: message that does not parse", notifyStep("unclosed", "We are on it: {{ .Incident.Title "),
			"spec.steps[0].action.notify.message"},
		{"runbook: message naming a field that does not exist", notifyStep("typo", "{{ .Incident.Titel }}"),
			"spec.steps[0].action.notify.message"},
		{"runbook: patch that is not JSON", kubeStep("bad-patch", klaxonv1.KubernetesAction{Operation: klaxonv1.OperationPatch,
			APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Patch: `{"spec": {"paused": true}`}),
			"spec.steps[0].action.kubernetes: patch is not a JSON object"},
		{"runbook: apiVersion that does not parse", kubeStep("bad-gv", klaxonv1.KubernetesAction{Operation: klaxonv1.OperationScale,
			APIVersion: "apps/v1/beta", Kind: "Deployment", Name: "web", Replicas: &replicas}),
			"spec.steps[0].action.kubernetes.apiVersion"},
		{"runbook: label the API server refuses", kubeStep("bad-label", klaxonv1.KubernetesAction{Operation: klaxonv1.OperationLabel,
			APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Labels: map[string]string{"drained by": "klaxon"}}),
			"spec.steps[0].action.kubernetes.labels"},
		{"runbook: good message", notifyStep("good-message", "We are looking into {{ .Incident.Title | lower }}."), ""},
		{"runbook: good patch", kubeStep("good-patch", klaxonv1.KubernetesAction{Operation: klaxonv1.OperationPatch,
			APIVersion: "apps/v1", Kind: "Deployment", Name: "web", Patch: `{"spec": {"paused": true}}`}), ""},

		// PostmortemRepository: what the post-mortem code could not open.
		{"repository: path template that does not parse", repo("bad-path", func(s *klaxonv1.PostmortemRepositorySpec) {
			s.PathTemplate = "postmortems/{{ .Year }/{{ .Name }}.md"
		}), "spec.pathTemplate: path template:"},
		{"repository: range in the path template", repo("range", func(s *klaxonv1.PostmortemRepositorySpec) {
			s.PathTemplate = "{{ range 1000000000 }}x{{ end }}.md"
		}), "spec.pathTemplate:"},
		{"repository: redaction pattern that does not compile", repo("bad-pattern", func(s *klaxonv1.PostmortemRepositorySpec) {
			s.Redaction.Patterns = []string{"ACME-(\\d+"}
		}), `spec.redaction: redaction pattern "ACME-(\\d+"`},
		{"repository: redaction pattern matching nothing", repo("empty-pattern", func(s *klaxonv1.PostmortemRepositorySpec) {
			s.Redaction.Patterns = []string{"x*"}
		}), "matches the empty string"},
		{"repository: branch git refuses", repo("bad-branch", func(s *klaxonv1.PostmortemRepositorySpec) {
			s.Branch = "records..2026"
		}), `spec.branch: "records..2026" is not a valid branch name`},
		{"repository: GitHub project that is not owner/repo", repo("bad-forge", func(s *klaxonv1.PostmortemRepositorySpec) {
			s.Mode = klaxonv1.CommitPullRequest
			s.Forge = &klaxonv1.Forge{Type: klaxonv1.ForgeGitHub, APIURL: "https://api.github.com", Project: "postmortems",
				SecretRef: klaxonv1.SecretReference{Name: "forge"}}
		}), `spec.forge: GitHub project "postmortems" is not owner/repo`},
		{"repository: ssh remote without a Secret", repo("ssh-bare", func(s *klaxonv1.PostmortemRepositorySpec) {
			s.URL = "ssh://git@git.example.com/acme/postmortems.git"
		}), "spec.secretRef: an ssh remote needs a Secret"},
		{"repository: credentials in the URL", repo("inline-credentials", func(s *klaxonv1.PostmortemRepositorySpec) {
			s.URL = "https://deploy:s3cret@git.example.com/acme/postmortems.git"
		}), "spec.url: remote url must not hold credentials; put them in the Secret"},
		{"repository: file remote that is no absolute path", repo("relative-file", func(s *klaxonv1.PostmortemRepositorySpec) {
			s.URL = "file://srv/postmortems.git"
		}), "must be file:// and an absolute path"},
		{"repository: signing without a Secret", repo("sign-bare", func(s *klaxonv1.PostmortemRepositorySpec) {
			s.Sign = true
		}), "spec.secretRef: sign needs a Secret with signingKey"},
		{"repository: good", repo("good", func(s *klaxonv1.PostmortemRepositorySpec) {
			s.Branch, s.Mode = "records", klaxonv1.CommitPullRequest
			s.Redaction.Patterns = []string{`ACME-[0-9]+`}
			s.Forge = &klaxonv1.Forge{Type: klaxonv1.ForgeGitHub, APIURL: "https://api.github.com", Project: "acme/postmortems",
				SecretRef: klaxonv1.SecretReference{Name: "forge"}}
		}), ""},

		// NotificationChannel: what would fail at the first page.
		{"channel: sender that is no address", channel("bad-from", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelEmail,
			Email: &klaxonv1.EmailChannel{Host: "smtp.example.com", From: "klaxon at example"}}),
			"spec.email.from is not an e-mail address"},
		{"channel: PagerDuty URL that is not http(s)", channel("bad-pd", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelPagerDuty,
			SecretRef: &klaxonv1.SecretReference{Name: "pd"}, PagerDuty: &klaxonv1.PagerDutyChannel{URL: "events.pagerduty.com"}}),
			"spec.pagerduty.url is not an http(s) URL"},
		{"channel: webhook URL without a host", channel("no-host", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelWebhook,
			Webhook: &klaxonv1.WebhookChannel{URL: "https://"}}),
			"spec.webhook.url is not an http(s) URL"},
		{"channel: Slack API URL that is not http(s)", channel("bad-slack", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelSlack,
			SecretRef: &klaxonv1.SecretReference{Name: "slack"}, Slack: &klaxonv1.SlackChannel{Mode: klaxonv1.SlackAPI, APIURL: "slack.internal/api"}}),
			"spec.slack.apiURL is not an http(s) URL"},
		{"channel: good e-mail", channel("good-mail", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelEmail,
			SecretRef: &klaxonv1.SecretReference{Name: "smtp"}, Email: &klaxonv1.EmailChannel{Host: "smtp.example.com", From: "Klaxon <klaxon@example.com>"}}), ""},
		{"channel: good Slack", channel("good-slack", klaxonv1.NotificationChannelSpec{Type: klaxonv1.ChannelSlack,
			SecretRef: &klaxonv1.SecretReference{Name: "slack"}}), ""},
	}
	admit(t, ctx, tests)
}

// TestSamplesPassAdmission applies config/samples, as `make run` does, through the
// webhook: the checks must not refuse the examples people start from.
func TestSamplesPassAdmission(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	applied, err := localcluster.Apply(ctx, cfg, "../../config/samples")
	if err != nil {
		t.Fatalf("applying the samples: %v", err)
	}
	if len(applied) == 0 {
		t.Fatal("no samples applied")
	}
}
