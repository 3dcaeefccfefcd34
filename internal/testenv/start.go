package testenv

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// Start starts env's kube-apiserver and etcd so that they never outlive this process;
// its error says where it looked for them.
//
// envtest stops them in Stop, which a test binary that panics, or that go test kills
// at its -timeout, never reaches: the two would then run on as orphans, holding CPU
// and ports on a shared machine until someone notices. envtest gives no say over how
// it starts them, so each is started through setpriv(1), which asks the kernel to
// kill it when its parent goes (Pdeathsig). Without setpriv they start as envtest
// starts them.
//
// Linux sends that signal when the thread that forked the child exits, not the
// process (golang/go#27505), and the Go runtime can end a thread while the program
// goes on; so the control plane is started from a goroutine locked to its thread
// that then waits forever, keeping that thread, one per Start, for the life of the
// process.
func Start(env *envtest.Environment) (*rest.Config, error) {
	if setpriv, err := exec.LookPath("setpriv"); err == nil {
		if env.ControlPlane.Etcd == nil {
			env.ControlPlane.Etcd = &envtest.Etcd{}
		}
		apiServer := env.ControlPlane.GetAPIServer()
		for _, p := range []struct {
			path *string
			name string
		}{{&apiServer.Path, "kube-apiserver"}, {&env.ControlPlane.Etcd.Path, "etcd"}} {
			if *p.path != "" {
				continue
			}
			wrapper, err := killedWithParent(setpriv, filepath.Join(env.BinaryAssetsDirectory, p.name))
			if err != nil {
				return nil, err
			}
			*p.path = wrapper
		}
	}

	type started struct {
		cfg *rest.Config
		err error
	}
	done := make(chan started, 1)
	go func() {
		runtime.LockOSThread()
		cfg, err := env.Start()
		done <- started{cfg, err}
		if err != nil {
			runtime.UnlockOSThread()
			return
		}
		select {} // keep the thread that forked the control plane (see above)
	}()
	s := <-done
	if s.err != nil {
		return nil, startError(s.err)
	}
	return s.cfg, nil
}

// killedWithParent writes a script that runs binary with setpriv --pdeathsig KILL and
// returns its path. The script is named for what it runs and written atomically, so
// test binaries running at once share one.
func killedWithParent(setpriv, binary string) (string, error) {
	script := fmt.Sprintf("#!/bin/sh\n# Started by internal/testenv: killed when the test process that started it is gone.\nexec %s --pdeathsig KILL -- %s \"$@\"\n", shellQuote(setpriv), shellQuote(binary))
	sum := sha256.Sum256([]byte(script))
	dir := filepath.Join(os.TempDir(), "klaxon-testenv")
	path := filepath.Join(dir, filepath.Base(binary)+"-"+hex.EncodeToString(sum[:6]))
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := writeExecutable(dir, path, script); err != nil {
		return "", fmt.Errorf("writing the launcher of %s: %w", binary, err)
	}
	return path, nil
}

// shellQuote quotes s for sh: single quotes keep everything but a single quote, which
// ends the quote, is escaped and starts it again.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// writeExecutable writes content to path through a temporary file in dir, renamed
// into place, so no one runs it half-written.
func writeExecutable(dir, path, content string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".launcher-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	_, err = tmp.WriteString(content)
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// Running reports whether a process runs: a zombie, dead but not reaped by its new
// parent yet, does not. Tests use it to see that a child went with its parent.
func Running(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesized command name.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || i+2 >= len(stat) || stat[i+2] != 'Z'
}
