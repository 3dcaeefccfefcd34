package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// helperEnv makes the test binary, run again by TestPanickedTestLeavesNoControlPlane,
// start a control plane and panic without stopping it.
const helperEnv = "KLAXON_TESTENV_HELPER"

// TestPanickedTestLeavesNoControlPlane runs a test binary that starts kube-apiserver
// and etcd with Start and then panics, never reaching Stop, as a test does that
// panics or runs past go test's -timeout; both must go with it.
func TestPanickedTestLeavesNoControlPlane(t *testing.T) {
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatalf("setpriv (util-linux) is what makes the kernel stop the control plane with its test: %v", err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPanics$")
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.CombinedOutput()
	log := string(out)
	if err == nil {
		t.Fatalf("the helper did not panic:\n%s", log)
	}
	var children []int
	for _, line := range strings.Split(log, "\n") {
		if f := strings.Fields(line); len(f) > 1 && f[0] == "ready" {
			for _, pid := range f[1:] {
				n, _ := strconv.Atoi(pid)
				children = append(children, n)
			}
		}
	}
	if len(children) != 2 {
		t.Fatalf("the helper did not report kube-apiserver and etcd:\n%s", log)
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, pid := range children {
		for Running(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d (%s) still runs after the test that started it panicked", pid, command(pid))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestHelperPanics is the test binary of TestPanickedTestLeavesNoControlPlane; it
// does nothing in a normal run.
func TestHelperPanics(t *testing.T) {
	if os.Getenv(helperEnv) == "" {
		return
	}
	env := New()
	if _, err := Start(env); err != nil {
		t.Fatal(err)
	}
	pids := []string{"ready"}
	for _, name := range []string{"kube-apiserver", "etcd"} {
		pid := childRunning(name)
		if pid == 0 {
			t.Fatalf("no child of this process runs %s", name)
		}
		pids = append(pids, strconv.Itoa(pid))
	}
	fmt.Println(strings.Join(pids, " "))
	panic("a test that never reaches env.Stop")
}

// childRunning is the pid of a child of this process whose executable is named name.
func childRunning(name string) int {
	tasks, _ := filepath.Glob("/proc/self/task/*/children")
	for _, f := range tasks {
		b, _ := os.ReadFile(f)
		for _, pid := range strings.Fields(string(b)) {
			n, _ := strconv.Atoi(pid)
			if filepath.Base(command(n)) == name {
				return n
			}
		}
	}
	return 0
}

// command is the executable a process runs, or "" once it is gone.
func command(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return ""
	}
	return strings.SplitN(string(b), "\x00", 2)[0]
}

// A launcher names its binary by path; sh must read back exactly that path, whatever
// a directory's name holds.
func TestShellQuoteSurvivesSh(t *testing.T) {
	for _, s := range []string{"/plain/path", `/it's "here"/$HOME/a\b`, "/with space/`x`"} {
		out, err := exec.Command("sh", "-c", "printf %s "+shellQuote(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("sh read %q back as %q (%v)", s, out, err)
		}
	}
}
