package localcluster

import (
	"runtime"
	"syscall"
)

// childProcAttr puts each control-plane process in a process group of its own, so a
// Ctrl-C in the terminal reaches only this process, which then stops the controller
// before the API server it talks to (see Cluster.Stop). Pdeathsig is the safety net:
// if this process dies without calling Stop (a second Ctrl-C, kill -9, a panic), the
// kernel sends SIGTERM to the children, so they never outlive it and keep the port or
// etcd's data directory.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}

// launcher starts child processes from one OS thread that stays locked until Stop.
// Linux sends Pdeathsig when the thread that forked the child exits, not the process
// (golang/go#27505); a Go runtime thread can exit while the program goes on, which
// would kill the control plane under a running controller.
type launcher struct {
	calls chan func()
}

func newLauncher() *launcher {
	l := &launcher{calls: make(chan func())}
	go func() {
		runtime.LockOSThread()
		for f := range l.calls {
			f()
		}
		// Every child has exited (close is called after they are stopped), so the
		// thread can go back to the runtime.
		runtime.UnlockOSThread()
	}()
	return l
}

// run calls f on the launcher's thread.
func (l *launcher) run(f func() error) error {
	errc := make(chan error, 1)
	l.calls <- func() { errc <- f() }
	return <-errc
}

// close ends the launcher; call it only once every child has exited.
func (l *launcher) close() { close(l.calls) }
