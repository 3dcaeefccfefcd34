//go:build !linux

package localcluster

import "syscall"

// childProcAttr leaves the control-plane processes in this process's group: without
// Linux's Pdeathsig, sharing the group is what makes a Ctrl-C in the terminal stop
// them too. A hard kill (kill -9) of this process leaves them running; stop them by
// hand before the next start.
func childProcAttr() *syscall.SysProcAttr { return nil }

// launcher starts child processes; only Linux needs a dedicated thread for that.
type launcher struct{}

func newLauncher() *launcher { return &launcher{} }

func (l *launcher) run(f func() error) error { return f() }

func (l *launcher) close() {}
