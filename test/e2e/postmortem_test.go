package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPostmortemRecord is the tour's last step: `make run` commits the record of a
// resolved incident to its local bare repository, with no git binary of its own, and
// git reads it back there.
func TestPostmortemRecord(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required to read the records: apt-get install -y git")
	}
	dir := t.TempDir()
	k := startKlaxon(t, dir, freePort(t))
	remote := filepath.Join(dir, "postmortems.git")

	eventually(t, 30*time.Second, func() error {
		out, err := k.kubectl("-n", "klaxon-system", "get", "postmortemrepository", "local", "-o",
			`jsonpath={.spec.url} {.status.conditions[?(@.type=="Ready")].status}`)
		if err != nil || out != "file://"+remote+" True" {
			return fmt.Errorf("the local repository is not Ready: %q %v", out, err)
		}
		return nil
	})
	// Deliveries go to this run's sink, so the record does not wait for failing ones.
	k.mustKubectl("-n", "acme", "patch", "notificationchannel", "local-sink", "--type=merge",
		"-p", `{"spec":{"webhook":{"url":"http://`+k.sinkAddr+`/acme"}}}`)
	k.mustKubectl("-n", "acme", "create", "-f", "config/samples/incidents/checkout-latency.yaml")
	eventually(t, 30*time.Second, func() error {
		out, err := k.kubectl("-n", "acme", "get", "incident", "checkout-latency", "-o", "jsonpath={.metadata.finalizers}")
		if err != nil || !strings.Contains(out, "klaxon.dev/postmortem") {
			return fmt.Errorf("no post-mortem finalizer yet: %q %v", out, err)
		}
		return nil
	})
	k.mustKubectl("-n", "acme", "patch", "incident", "checkout-latency", "--type=merge",
		"-p", `{"spec":{"state":"Resolved","stage":"Monitor","rootCause":"a slow query after the v42 deploy"}}`)

	var commit, path, resolvedAt string
	eventually(t, 60*time.Second, func() error {
		out, err := k.kubectl("-n", "acme", "get", "incident", "checkout-latency", "-o",
			`jsonpath={.status.postmortem.commit} {.status.postmortem.path} {.status.resolvedAt} {.status.conditions[?(@.type=="PostmortemCommitted")].status}`)
		f := strings.Fields(out)
		if err != nil || len(f) != 4 || f[3] != "True" {
			return fmt.Errorf("no record committed yet: %q %v", out, err)
		}
		commit, path, resolvedAt = f[0], f[1], f[2]
		return nil
	})
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", remote}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	if head := strings.TrimSpace(git("log", "-1", "--format=%H")); head != commit {
		t.Errorf("git log shows %s, status.postmortem.commit is %s", head, commit)
	}
	if want := "postmortems/" + resolvedAt[:4] + "/acme/checkout-latency.md"; path != want {
		t.Errorf("path %s, want %s", path, want)
	}
	record := git("show", "main:"+path)
	for _, want := range []string{"schema: klaxon.dev/postmortem/v1", "name: checkout-latency", "rootCause: a slow query after the v42 deploy"} {
		if !strings.Contains(record, want) {
			t.Errorf("the record lacks %q:\n%s", want, record)
		}
	}
	git("fsck", "--strict")
	events := k.mustKubectl("-n", "acme", "get", "events", "--field-selector", "involvedObject.name=checkout-latency")
	if !strings.Contains(events, "PostmortemCommitted") {
		t.Errorf("no PostmortemCommitted event:\n%s", events)
	}
}
