// Command postmortem measures how fast post-mortem records are committed into a large
// repository, against the targets of issue 6, and prints a report:
//
//   - local commits built from objects (postmortem.Store: blob, changed trees, commit,
//     crash-safe ref update) into a repository of 10,000 files: commits/s, p50/p99;
//     target >= 200 commits/s and p99 <= 15 ms;
//   - the git CLI's add+commit on a worktree of the same repository, in the same run, and
//     the ratio between the two;
//   - end to end through postmortem.Repository to a bare remote over file://, one caller
//     at a time and many at once (records that arrive together share a push):
//     records/s and record-to-pushed latency p50/p99, and pushes made.
//
// Run it with `go run ./test/bench/postmortem` (what `make bench` runs). It exits 1 when
// a target is missed, unless -enforce=false.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/postmortem"
)

func main() {
	files := flag.Int("files", 10000, "files in the generated repository")
	commits := flag.Int("commits", 1000, "local commits to measure")
	gitCommits := flag.Int("git-commits", 200, "git CLI commits to measure")
	records := flag.Int("records", 1000, "records to push end to end with concurrent callers")
	sequential := flag.Int("sequential", 100, "records to push end to end one at a time")
	callers := flag.Int("callers", 32, "concurrent callers end to end")
	keep := flag.Bool("keep", false, "keep the temporary directory")
	enforce := flag.Bool("enforce", true, "exit 1 when a target is missed")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the local commits to this file")
	base := flag.String("dir", "", "directory for the repositories (default: the system's temporary directory); the disk under it is what is measured")
	flag.Parse()
	profile = *cpuProfile
	baseDir = *base
	// Repository logs through controller-runtime; the report is what this prints.
	ctrllog.SetLogger(logr.Discard())

	if err := run(*files, *commits, *gitCommits, *records, *sequential, *callers, *keep, *enforce); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(files, commits, gitCommits, records, sequential, callers int, keep, enforce bool) error {
	tmp, err := os.MkdirTemp(baseDir, "klaxon-postmortem-bench")
	if err != nil {
		return err
	}
	if keep {
		fmt.Println("directory:", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	content, err := sampleRecords(commits + gitCommits + records + sequential)
	if err != nil {
		return err
	}

	origin := filepath.Join(tmp, "origin.git")
	start := time.Now()
	if err := generate(origin, files); err != nil {
		return fmt.Errorf("generate repository: %w", err)
	}
	fmt.Printf("post-mortem commit benchmark: %d-file repository (git fast-import, %.1fs) in %s, records of %d bytes, %s/%s, %d CPUs\n",
		files, time.Since(start).Seconds(), tmp, len(content[0]), runtime.GOOS, runtime.GOARCH, runtime.NumCPU())
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Printf("load average: %s", load)
	}

	// Local commits from objects.
	local := filepath.Join(tmp, "local.git")
	if err := gitRun("", "clone", "--quiet", "--bare", origin, local); err != nil {
		return err
	}
	store, err := postmortem.OpenStore(local, postmortem.StoreOptions{})
	if err != nil {
		return err
	}
	lat := make([]time.Duration, 0, commits)
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	start = time.Now()
	for i := range commits {
		ch := postmortem.Change{Path: recordPath(i), Content: content[i], Message: fmt.Sprintf("postmortem: record %d", i)}
		t0 := time.Now()
		res, err := store.Commit("main", []postmortem.Change{ch})
		if err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
		if !res[0].Committed {
			return fmt.Errorf("record %d was not committed", i)
		}
	}
	localTotal := time.Since(start)
	pprof.StopCPUProfile()
	store.Close()
	if err := gitRun(local, "fsck", "--strict", "--no-dangling"); err != nil {
		return fmt.Errorf("fsck after local commits: %w", err)
	}
	localRate := float64(commits) / localTotal.Seconds()
	localStats := stats(lat)
	fmt.Printf("\nlocal commits from objects (Store.Commit: blob, changed trees, commit, locked+fsynced ref update):\n")
	fmt.Printf("  %d commits in %.2fs: %.0f commits/s; per commit %s   [target >= 200/s, p99 <= 15ms: %s]\n",
		commits, localTotal.Seconds(), localRate, localStats, verdict(localRate >= 200 && localStats.p99 <= 15*time.Millisecond))
	fmt.Printf("  git fsck --strict: clean\n")

	// The git CLI on a worktree of the same repository.
	work := filepath.Join(tmp, "work")
	if err := gitRun("", "clone", "--quiet", origin, work); err != nil {
		return err
	}
	lat = lat[:0]
	start = time.Now()
	for i := range gitCommits {
		p := recordPath(commits + i)
		if err := os.MkdirAll(filepath.Join(work, filepath.Dir(p)), 0o755); err != nil {
			return err
		}
		t0 := time.Now()
		if err := os.WriteFile(filepath.Join(work, p), content[commits+i], 0o644); err != nil {
			return err
		}
		if err := gitRun(work, "add", "--", p); err != nil {
			return err
		}
		if err := gitRun(work, "commit", "--quiet", "--no-verify", "-m", fmt.Sprintf("postmortem: record %d", i)); err != nil {
			return err
		}
		lat = append(lat, time.Since(t0))
	}
	gitTotal := time.Since(start)
	gitRate := float64(gitCommits) / gitTotal.Seconds()
	fmt.Printf("\ngit CLI (write file, git add, git commit) on a worktree of the same repository:\n")
	fmt.Printf("  %d commits in %.2fs: %.0f commits/s; per commit %s\n", gitCommits, gitTotal.Seconds(), gitRate, stats(lat))
	fmt.Printf("  ratio: commits from objects are %.1fx the git CLI's rate\n", localRate/gitRate)

	// End to end: commit and push to a bare remote.
	remote := filepath.Join(tmp, "remote.git")
	if err := gitRun("", "clone", "--quiet", "--bare", origin, remote); err != nil {
		return err
	}
	if err := gitRun(remote, "config", "core.logAllRefUpdates", "always"); err != nil {
		return err
	}
	repo, err := postmortem.Open(postmortem.Options{Dir: filepath.Join(tmp, "cache"), URL: "file://" + remote})
	if err != nil {
		return err
	}
	defer repo.Close()
	fmt.Printf("\nend to end (Repository.Commit to a bare file:// remote; returns once the record is pushed):\n")
	start = time.Now()
	if err := repo.Sync(context.Background()); err != nil {
		return err
	}
	fmt.Printf("  first fetch of the %d-file repository into an empty cache: %.2fs\n", files, time.Since(start).Seconds())

	next := commits + gitCommits
	seqStats, seqRate, seqPushes, err := endToEnd(repo, remote, content[next:next+sequential], next, 1)
	if err != nil {
		return err
	}
	fmt.Printf("  1 caller:   %4d records, %5.0f records/s, record-to-pushed %s, %d pushes\n", sequential, seqRate, seqStats, seqPushes)
	next += sequential
	conStats, conRate, conPushes, err := endToEnd(repo, remote, content[next:next+records], next, callers)
	if err != nil {
		return err
	}
	fmt.Printf("  %d callers: %4d records, %5.0f records/s, record-to-pushed %s, %d pushes (%.1f records per push)\n",
		callers, records, conRate, conStats, conPushes, float64(records)/float64(max(conPushes, 1)))
	if err := gitRun(remote, "fsck", "--strict", "--no-dangling"); err != nil {
		return fmt.Errorf("fsck of the remote: %w", err)
	}
	fmt.Printf("  git fsck --strict of the remote: clean; every record verified on the remote\n")

	if enforce && !(localRate >= 200 && localStats.p99 <= 15*time.Millisecond) {
		return fmt.Errorf("target missed: %.0f commits/s (want >= 200), p99 %s (want <= 15ms)", localRate, localStats.p99)
	}
	return nil
}

// profile is where -cpuprofile writes; baseDir is -dir.
var profile, baseDir string

// endToEnd commits the records through repo from callers goroutines and checks that
// each is on the remote.
func endToEnd(repo *postmortem.Repository, remote string, content [][]byte, first, callers int) (latency, float64, int, error) {
	pushesBefore := pushCount(remote)
	lat := make([]time.Duration, len(content))
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	var mu sync.Mutex
	next := 0
	start := time.Now()
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= len(content) {
					return
				}
				ch := postmortem.Change{Path: recordPath(first + i), Content: content[i], Message: fmt.Sprintf("postmortem: record %d", first+i)}
				t0 := time.Now()
				res, err := repo.Commit(context.Background(), []postmortem.Change{ch})
				lat[i] = time.Since(t0)
				if err == nil && !res[0].Committed {
					err = fmt.Errorf("record %d was not committed", first+i)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	total := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return latency{}, 0, 0, err
	}
	// Every record is on the remote's branch.
	out, err := exec.Command("git", "-C", remote, "ls-tree", "-r", "--name-only", "main", "--", "postmortems/2026").Output()
	if err != nil {
		return latency{}, 0, 0, err
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(out), "\n") {
		have[l] = true
	}
	for i := range content {
		if !have[recordPath(first+i)] {
			return latency{}, 0, 0, fmt.Errorf("record %s is not on the remote", recordPath(first+i))
		}
	}
	return stats(lat), float64(len(content)) / total.Seconds(), pushCount(remote) - pushesBefore, nil
}

// generate makes a bare repository of n files in a layout a post-mortem repository has
// after some years: postmortems/<year>/<tenant>/<incident>.md, in 10 commits.
func generate(dir string, n int) error {
	if err := gitRun("", "init", "--quiet", "--bare", "--initial-branch=main", dir); err != nil {
		return err
	}
	var b bytes.Buffer
	body := strings.Repeat("Timeline, notifications and decisions of a past incident.\n", 30)
	per := (n + 9) / 10
	for c := 0; c < 10; c++ {
		fmt.Fprintf(&b, "commit refs/heads/main\ncommitter Seed <seed@example.invalid> %d +0000\ndata 12\nimport %03d\n\n", 1_600_000_000+c*86400, c)
		for i := c * per; i < min(n, (c+1)*per); i++ {
			p := fmt.Sprintf("postmortems/%d/tenant-%02d/incident-%05d.md", 2021+i%5, (i/5)%40, i)
			data := fmt.Sprintf("---\nschema: %s\n---\n# Incident %d\n\n%s", postmortem.SchemaV1, i, body)
			fmt.Fprintf(&b, "M 100644 inline %s\ndata %d\n%s\n", p, len(data), data)
		}
	}
	b.WriteString("done\n")
	cmd := exec.Command("git", "fast-import", "--quiet", "--done")
	cmd.Dir = dir
	cmd.Env = gitEnv()
	cmd.Stdin = &b
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git fast-import: %w: %s", err, out)
	}
	return nil
}

// recordPath places the new records among the existing tenants.
func recordPath(i int) string {
	return fmt.Sprintf("postmortems/2026/tenant-%02d/bench-%05d.md", i%40, i)
}

// sampleRecords renders n realistic records (a SEV2 with a timeline, notifications and
// a decision input), each a little different.
func sampleRecords(n int) ([][]byte, error) {
	red, err := postmortem.NewRedactor(v1alpha1.Redaction{})
	if err != nil {
		return nil, err
	}
	t0 := time.Date(2026, 3, 14, 8, 58, 0, 0, time.UTC)
	out := make([][]byte, n)
	for i := range n {
		inc := &v1alpha1.Incident{}
		inc.Namespace, inc.Name = fmt.Sprintf("tenant-%02d", i%40), fmt.Sprintf("bench-%05d", i)
		inc.Spec = v1alpha1.IncidentSpec{
			Title: fmt.Sprintf("Checkout latency above SLO (%d)", i), Service: "checkout", Category: "performance",
			State: v1alpha1.StateResolved, RootCause: "A slow query after the index was dropped.", Resolution: "Index restored.",
			ActionItems: []v1alpha1.ActionItem{{Description: "Alert on missing indexes", Owner: "dba"}},
		}
		inc.Status.Severity = v1alpha1.SEV2
		inc.Status.TriggeredAt = &metav1.Time{Time: t0}
		inc.Status.AcknowledgedAt = &metav1.Time{Time: t0.Add(3 * time.Minute)}
		inc.Status.ResolvedAt = &metav1.Time{Time: t0.Add(time.Duration(40+i%60) * time.Minute)}
		for j := range 20 {
			inc.Status.Timeline = append(inc.Status.Timeline, v1alpha1.TimelineEntry{
				Time: metav1.Time{Time: t0.Add(time.Duration(j) * time.Minute)}, Type: "Note", Actor: "alice",
				Message: fmt.Sprintf("step %d of the investigation of incident %d", j, i),
			})
		}
		for j := range 4 {
			inc.Status.Notifications = append(inc.Status.Notifications, v1alpha1.NotificationRecord{
				Key: fmt.Sprintf("0/Triggered/%d/0/oncall/pager", j), Event: v1alpha1.EventTriggered, Target: "oncall",
				Channel: "pager", Phase: v1alpha1.NotificationSent, Attempts: 1, LastAttemptAt: &metav1.Time{Time: t0.Add(time.Duration(j) * time.Minute)},
			})
		}
		inc.Status.Decisions = []v1alpha1.DecisionRecord{{Point: "triage", ID: fmt.Sprintf("dec-%d", i), Summary: "SEV2 performance"}}
		input, _ := json.Marshal(map[string]any{"incident": map[string]any{"spec": inc.Spec}, "now": t0.Format(time.RFC3339)})
		rec := postmortem.FromIncident(inc, nil, map[string]json.RawMessage{fmt.Sprintf("dec-%d", i): input})
		if out[i], err = postmortem.Render(rec, red); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// latency summarizes per-operation times.
type latency struct{ p50, p99, max time.Duration }

func (l latency) String() string {
	return fmt.Sprintf("p50 %s, p99 %s, max %s", round(l.p50), round(l.p99), round(l.max))
}

func round(d time.Duration) time.Duration { return d.Round(10 * time.Microsecond) }

func stats(d []time.Duration) latency {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := func(p float64) time.Duration { return s[int(math.Ceil(p*float64(len(s))))-1] }
	return latency{p50: rank(0.50), p99: rank(0.99), max: s[len(s)-1]}
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

func pushCount(gitDir string) int {
	b, err := os.ReadFile(filepath.Join(gitDir, "logs", "refs", "heads", "main"))
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}

func gitEnv() []string {
	return append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Bench", "GIT_AUTHOR_EMAIL=bench@example.invalid",
		"GIT_COMMITTER_NAME=Bench", "GIT_COMMITTER_EMAIL=bench@example.invalid")
}

func gitRun(dir string, args ...string) error {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = gitEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}
