package measure

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"sync/atomic"
	"syscall"
	"time"
)

// RSS keeps the largest VmRSS of a process, sampled every 100 ms while it runs.
type RSS struct {
	pid int
	max atomic.Int64
}

// Start samples pid until it exits.
func (s *RSS) Start(pid int) {
	s.pid = pid
	go func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for range t.C {
			p, err := ReadProc(pid)
			if err != nil {
				return
			}
			if p.RSS > s.max.Load() {
				s.max.Store(p.RSS)
			}
		}
	}()
}

// Max is the largest VmRSS sampled since Start or the last Reset.
func (s *RSS) Max() int64 { return s.max.Load() }

// Reset starts a new maximum.
func (s *RSS) Reset() { s.max.Store(0) }

// Now is the process's memory at this moment.
func (s *RSS) Now() Proc {
	p, _ := ReadProc(s.pid)
	return p
}

// Process is a process the harness started and measures.
type Process struct {
	cmd    *exec.Cmd
	exited chan error
	// RSS samples its memory while it runs.
	RSS RSS
}

// StartProcess starts cmd, which dies with the harness, and samples its memory;
// log, when set, is closed once the process exits.
func StartProcess(cmd *exec.Cmd, log io.Closer) (*Process, error) {
	// A harness killed mid-run takes its children with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &Process{cmd: cmd, exited: make(chan error, 1)}
	go func() {
		p.exited <- cmd.Wait()
		if log != nil {
			_ = log.Close()
		}
	}()
	p.RSS.Start(cmd.Process.Pid)
	return p, nil
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited receives the process's exit status once it exits.
func (p *Process) Exited() <-chan error { return p.exited }

// Stop asks the process to stop as a Deployment's pod is asked (SIGTERM) and waits
// up to grace before it kills it.
func (p *Process) Stop(grace time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("%s did not stop within %s of SIGTERM", p.cmd.Path, grace)
	}
}

// Child is this binary run in another role (the controller under test) with a
// metrics and a pprof endpoint; it prints "ready" on stdout once it is.
type Child struct {
	*Process
	MetricsURL string
	pprofURL   string
	// Started and ReadyAt are when it was started and when it said it was ready.
	Started, ReadyAt time.Time
}

// StartChild runs this binary with args, -metrics-bind-address and
// -pprof-bind-address, its stderr to logPath, and waits until it is ready.
func StartChild(logPath string, args ...string) (*Child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	metricsAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	pprofAddr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, append(args, "-metrics-bind-address", metricsAddr, "-pprof-bind-address", pprofAddr)...)
	cmd.Stderr = logFile
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &Child{MetricsURL: "http://" + metricsAddr + "/metrics", pprofURL: "http://" + pprofAddr + "/debug/pprof", Started: time.Now()}
	if c.Process, err = StartProcess(cmd, logFile); err != nil {
		return nil, err
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				c.ReadyAt = time.Now()
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
		return c, nil
	case err := <-c.exited:
		return nil, fmt.Errorf("%s exited before it was ready (%v); see %s", args[0], err, logPath)
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("%s not ready after 2 minutes; see %s", args[0], logPath)
	}
}

// Scrape reads the child's metrics.
func (c *Child) Scrape() Metrics {
	resp, err := http.Get(c.MetricsURL)
	if err != nil {
		return Metrics{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return ParseMetrics(string(b))
}

// Profile writes a CPU profile of the child over d to file, in the background; the
// returned channel closes when it is written.
func (c *Child) Profile(d time.Duration, file string) <-chan struct{} {
	return FetchProfile(http.DefaultClient, fmt.Sprintf("%s/profile?seconds=%d", c.pprofURL, int(d.Seconds())), file)
}
