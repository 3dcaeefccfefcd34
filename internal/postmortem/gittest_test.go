package postmortem

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The tests check what this package writes with the real git binary, the way a person
// reviewing the repository would: log, show, fsck --strict, verify-commit.

// gitEnv isolates git from the machine's configuration.
func gitEnv(t testing.TB) []string {
	t.Helper()
	home := filepath.Join(t.TempDir(), "home")
	if err := os.MkdirAll(home, 0o755); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(),
		"HOME="+home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Test", "GIT_AUTHOR_EMAIL=test@example.invalid",
		"GIT_COMMITTER_NAME=Test", "GIT_COMMITTER_EMAIL=test@example.invalid",
		"GIT_TERMINAL_PROMPT=0",
	)
}

// git runs the git binary in dir and returns its standard output; it fails the test on
// error. env adds variables.
func runGit(t testing.TB, dir string, args ...string) string {
	t.Helper()
	out, err := gitErr(t, dir, nil, args...)
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	return out
}

func gitErr(t testing.TB, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	requireBinary(t, "git", "git")
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(gitEnv(t), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("%w: %s", err, stderr.String())
	}
	return stdout.String(), nil
}

// requireBinary fails, never skips, when a tool the tests need is missing: CI must have
// it, and a skipped test would hide that records are not verified.
func requireBinary(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is required by these tests and is not installed: apt-get install -y %s", name, pkg)
	}
	return p
}

// newBareRemote creates an empty bare repository whose default branch is main and
// returns its directory.
func newBareRemote(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "remote.git")
	runGit(t, "", "init", "--quiet", "--bare", "--initial-branch=main", dir)
	// Log every ref update, so a test can count pushes.
	runGit(t, dir, "config", "core.logAllRefUpdates", "always")
	return dir
}

// seed commits files to branch of the bare repository gitDir with git fast-import, the
// fastest way to make a big repository.
func seed(t testing.TB, gitDir, branch string, files map[string]string) {
	t.Helper()
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var b bytes.Buffer
	fmt.Fprintf(&b, "commit refs/heads/%s\n", branch)
	fmt.Fprintf(&b, "committer Seed <seed@example.invalid> %d +0000\n", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).Unix())
	fmt.Fprintf(&b, "data 5\nseed\n")
	if out, _ := gitErr(t, gitDir, nil, "rev-parse", "--verify", "--quiet", "refs/heads/"+branch); strings.TrimSpace(out) != "" {
		fmt.Fprintf(&b, "from refs/heads/%s^0\n", branch)
	}
	for _, n := range names {
		c := files[n]
		fmt.Fprintf(&b, "M 100644 inline %s\ndata %d\n%s\n", n, len(c), c)
	}
	b.WriteString("done\n")
	cmd := exec.Command("git", "fast-import", "--quiet", "--done")
	cmd.Dir = gitDir
	cmd.Env = gitEnv(t)
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git fast-import: %v: %s", err, out)
	}
}

// fsck fails the test unless git fsck --strict finds gitDir clean.
func fsck(t testing.TB, gitDir string) {
	t.Helper()
	if out, err := gitErr(t, gitDir, nil, "fsck", "--strict", "--no-dangling"); err != nil {
		t.Fatalf("git fsck --strict %s: %v\n%s", gitDir, err, out)
	}
}

// show returns the content of path at rev.
func show(t testing.TB, gitDir, rev, path string) string {
	t.Helper()
	return runGit(t, gitDir, "show", rev+":"+path)
}

// revParse returns the commit rev names, or "" when it names none.
func revParse(t testing.TB, gitDir, rev string) string {
	t.Helper()
	out, err := gitErr(t, gitDir, nil, "rev-parse", "--verify", "--quiet", rev+"^{commit}")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(out)
}

// commitCount counts the commits reachable from rev.
func commitCount(t testing.TB, gitDir, rev string) int {
	t.Helper()
	n, err := strconv.Atoi(strings.TrimSpace(runGit(t, gitDir, "rev-list", "--count", rev)))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// pushCount counts the updates of branch in the remote's reflog: one per push.
func pushCount(t testing.TB, gitDir, branch string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(gitDir, "logs", "refs", "heads", branch))
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}

// fileURL is the file:// URL of a local repository.
func fileURL(dir string) string { return "file://" + filepath.ToSlash(dir) }

// fixedClock is a clock tests advance by hand.
type fixedClock struct{ t time.Time }

func (c *fixedClock) Now() time.Time { return c.t }

func newClock() *fixedClock {
	return &fixedClock{t: time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)}
}

// change is a Change of path with content.
func change(path, content string) Change {
	return Change{Path: path, Content: []byte(content), Message: "record " + path}
}
