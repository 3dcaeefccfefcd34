package postmortem

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/storage"
)

// helperEnv makes the test binary a process that commits in a loop until it is killed.
const helperEnv = "KLAXON_POSTMORTEM_COMMIT_LOOP_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(helperEnv); dir != "" {
		commitLoop(dir)
		return
	}
	os.Exit(m.Run())
}

// commitLoop commits records into the store in dir forever; the parent kills it.
func commitLoop(dir string) {
	s, err := OpenStore(dir, StoreOptions{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("ready")
	for i := 0; ; i++ {
		ch := change(fmt.Sprintf("postmortems/2026/ns%d/incident-%d.md", i%7, i%50), fmt.Sprintf("version %d\n", i))
		if _, err := s.Commit("main", []Change{ch}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(3)
		}
	}
}

// TestRefSurvivesKill kills a process at random moments while it commits, and checks
// each time that the branch names a readable commit that is no older than before: the
// ref never goes empty, half-written or backwards.
func TestRefSurvivesKill(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache.git")
	rounds := 20
	last := 0
	locks := 0
	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), helperEnv+"="+dir)
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 6)
		if _, err := stdout.Read(buf); err != nil {
			t.Fatalf("helper did not start: %v: %s", err, stderr.String())
		}
		time.Sleep(time.Duration(10+rand.IntN(110)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if strings.TrimSpace(stderr.String()) != "" {
			t.Fatalf("round %d: helper failed: %s", round, stderr.String())
		}

		s, err := OpenStore(dir, StoreOptions{})
		if err != nil {
			t.Fatalf("round %d: reopen after kill: %v", round, err)
		}
		locks += len(s.Recovered.StaleLocks)
		if len(s.Recovered.Restored)+len(s.Recovered.Removed) > 0 {
			t.Errorf("round %d: a ref written by lock and rename needed repair: %+v", round, s.Recovered)
		}
		head, err := s.Head("main")
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		s.Close()
		if head == "" {
			if round > 0 && last > 0 {
				t.Fatalf("round %d: main vanished", round)
			}
			continue
		}
		n := commitCount(t, dir, "main")
		if n < last {
			t.Fatalf("round %d: main went back from %d to %d commits", round, last, n)
		}
		last = n
	}
	if last == 0 {
		t.Fatal("the helper never committed")
	}
	t.Logf("%d commits over %d kills; %d stale locks removed on reopen", last, rounds, locks)
	fsck(t, dir)
}

func TestInterruptedRefUpdate(t *testing.T) {
	for _, step := range []string{"partial-write", "before-rename"} {
		t.Run(step, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache.git")
			s := openTestStore(t, dir, newClock())
			first, err := s.Commit("main", []Change{change("a.md", "a\n")})
			if err != nil {
				t.Fatal(err)
			}

			s.refs.crashAfter = step
			if _, err := s.Commit("main", []Change{change("b.md", "b\n")}); !errors.Is(err, errCrashed) {
				t.Fatalf("commit: %v, want the simulated crash", err)
			}
			s.refs.crashAfter = ""
			lock := filepath.Join(dir, "refs", "heads", "main.lock")
			if _, err := os.Stat(lock); err != nil {
				t.Fatalf("the crash left no lock: %v", err)
			}
			// What git sees while the lock is there: the old value, intact.
			if got := revParse(t, dir, "main"); got != first[0].Commit {
				t.Fatalf("main is %q after the crash, want the old value %s", got, first[0].Commit)
			}
			s.Close()

			s = openTestStore(t, dir, newClock())
			if len(s.Recovered.StaleLocks) != 1 || s.Recovered.StaleLocks[0] != "refs/heads/main.lock" {
				t.Errorf("recovered: %+v", s.Recovered)
			}
			next, err := s.Commit("main", []Change{change("b.md", "b\n")})
			if err != nil {
				t.Fatal(err)
			}
			if got := revParse(t, dir, "main^"); got != first[0].Commit {
				t.Errorf("the commit after recovery has parent %s, want %s", got, first[0].Commit)
			}
			if got := revParse(t, dir, "main"); got != next[0].Commit {
				t.Errorf("main is %s, want %s", got, next[0].Commit)
			}
			fsck(t, dir)
		})
	}
}

// TestCorruptRefIsRestored damages the branch the ways another writer or a power loss
// can (go-git's in-place writer truncates before it writes; a commit whose object never
// reached the disk) and checks that opening the store puts back the last good value.
func TestCorruptRefIsRestored(t *testing.T) {
	for name, damage := range map[string]func(t *testing.T, dir, head string){
		"empty": func(t *testing.T, dir, _ string) {
			writeFile(t, filepath.Join(dir, "refs", "heads", "main"), "")
		},
		"truncated": func(t *testing.T, dir, head string) {
			writeFile(t, filepath.Join(dir, "refs", "heads", "main"), head[:17])
		},
		"object lost": func(t *testing.T, dir, head string) {
			// The head commit's object never reached the disk.
			if err := os.Remove(filepath.Join(dir, "objects", head[:2], head[2:])); err != nil {
				t.Fatal(err)
			}
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "cache.git")
			s := openTestStore(t, dir, newClock())
			first, err := s.Commit("main", []Change{change("a.md", "a\n")})
			if err != nil {
				t.Fatal(err)
			}
			second, err := s.Commit("main", []Change{change("b.md", "b\n")})
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			damage(t, dir, second[0].Commit)

			s = openTestStore(t, dir, newClock())
			want := second[0].Commit
			if name == "object lost" {
				want = first[0].Commit // the newest value whose commit is readable
			}
			if got, err := s.Head("main"); err != nil || got != want {
				t.Fatalf("head after recovery: %s, %v; want %s (recovered %+v)", got, err, want, s.Recovered)
			}
			if len(s.Recovered.Restored) != 1 {
				t.Errorf("recovered: %+v", s.Recovered)
			}
			if _, err := s.Commit("main", []Change{change("c.md", "c\n")}); err != nil {
				t.Fatal(err)
			}
			if name != "object lost" {
				fsck(t, dir)
			}
		})
	}
}

func TestRefCompareAndSwap(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache.git")
	s := openTestStore(t, dir, newClock())
	res, err := s.Commit("main", []Change{change("a.md", "a\n")})
	if err != nil {
		t.Fatal(err)
	}
	stale := plumbing.ZeroHash
	err = s.refs.update("refs/heads/main", res[0].Commit, &stale, "test")
	if !errors.Is(err, storage.ErrReferenceHasChanged) {
		t.Errorf("update with a stale old value: %v, want ErrReferenceHasChanged", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "refs", "heads", "main.lock")); !errors.Is(err, os.ErrNotExist) {
		t.Error("a refused update left its lock")
	}
	for _, bad := range []plumbing.ReferenceName{"refs/heads/../../config", "refs/heads/a..b", "refs/heads/x.lock", "config"} {
		if err := s.refs.update(bad, res[0].Commit, nil, "test"); err == nil {
			t.Errorf("ref %q was written", bad)
		}
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
