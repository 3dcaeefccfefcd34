package localcluster

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestInitBareRepository: `make run`'s post-mortem remote is a bare repository on main
// that git accepts pushes to, and starting again keeps what was pushed.
func TestInitBareRepository(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required to check the repository: apt-get install -y git")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "state", PostmortemRemote)
	url, err := InitBareRepository(path)
	if err != nil {
		t.Fatal(err)
	}
	if url != "file://"+path {
		t.Errorf("url %q, want file://%s", url, path)
	}
	git := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Env = append(os.Environ(), "HOME="+dir, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
			"GIT_AUTHOR_NAME=T", "GIT_AUTHOR_EMAIL=t@example.invalid", "GIT_COMMITTER_NAME=T", "GIT_COMMITTER_EMAIL=t@example.invalid")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v: %s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	if got := git("-C", path, "rev-parse", "--is-bare-repository"); got != "true" {
		t.Errorf("bare: %s", got)
	}
	if got := git("-C", path, "symbolic-ref", "HEAD"); got != "refs/heads/main" {
		t.Errorf("HEAD -> %s, want refs/heads/main", got)
	}

	work := filepath.Join(dir, "work")
	git("clone", "--quiet", url, work)
	if err := os.WriteFile(filepath.Join(work, "a.md"), []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("-C", work, "add", "a.md")
	git("-C", work, "commit", "--quiet", "-m", "a")
	git("-C", work, "push", "--quiet", "origin", "HEAD:main")
	head := git("-C", path, "rev-parse", "main")

	if _, err := InitBareRepository(path); err != nil {
		t.Fatalf("second start: %v", err)
	}
	if got := git("-C", path, "rev-parse", "main"); got != head {
		t.Errorf("a second start lost the records: main %s, was %s", got, head)
	}
	if _, err := InitBareRepository(filepath.Join(dir, "work", "a.md", "x.git")); err == nil {
		t.Error("a path under a file is refused")
	}
}
