package localcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// stopTimeout is how long a control-plane process gets to exit after SIGTERM before
// it is killed; etcd and kube-apiserver both shut down in a few seconds.
const stopTimeout = 20 * time.Second

// process is one control-plane binary run as a child of this process.
type process struct {
	name string
	cmd  *exec.Cmd
	out  *outputWriter

	done    chan struct{} // closed once the process has exited
	waitErr error         // set before done is closed
}

// startProcess starts a binary. Its output goes to out (when not nil), each line
// prefixed with the binary's name; the last few KiB are always kept for errors.
func startProcess(l *launcher, name, path string, args []string, out *syncWriter) (*process, error) {
	p := &process{
		name: name,
		out:  newOutputWriter(name, out),
		done: make(chan struct{}),
	}
	p.cmd = exec.Command(path, args...)
	p.cmd.Stdout = p.out
	p.cmd.Stderr = p.out
	p.cmd.SysProcAttr = childProcAttr()
	if err := l.run(p.cmd.Start); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		p.out.flush()
		close(p.done)
	}()
	return p, nil
}

// exited reports whether the process has exited.
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// exitError describes an exit the caller did not ask for, with the last output lines,
// which usually name the cause (a port in use, a bad flag, a locked data directory).
func (p *process) exitError() error {
	return fmt.Errorf("%s exited: %v\n%s", p.name, p.waitErr, p.out.tail())
}

// stop sends SIGTERM, waits for the exit, and kills the process if it does not exit
// in time. It returns nil when the process exits because it was asked to.
func (p *process) stop() error {
	if p.exited() {
		return p.exitError()
	}
	// ErrProcessDone: it exited between the check above and the signal.
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", p.name, err)
	}
	select {
	case <-p.done:
		return nil
	case <-time.After(stopTimeout):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("stop %s: killed after %s without exiting", p.name, stopTimeout)
	}
}

// waitUntil polls check until it succeeds, the process exits, or ctx ends; the error
// then says why, with the process's last output.
func (p *process) waitUntil(ctx context.Context, check func(context.Context) error) error {
	const interval = 100 * time.Millisecond
	for {
		err := check(ctx)
		if err == nil {
			return nil
		}
		select {
		case <-p.done:
			return p.exitError()
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last check: %v)\n%s", p.name, context.Cause(ctx), err, p.out.tail())
		case <-time.After(interval):
		}
	}
}

// syncWriter serializes writes from the copying goroutines of several processes.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// tailSize is how much of a process's latest output is kept for error messages.
const tailSize = 4 << 10

// outputWriter forwards a process's output line by line, with a prefix, and keeps its
// tail.
type outputWriter struct {
	prefix string
	out    *syncWriter // nil: output is only kept for the tail

	mu      sync.Mutex
	partial []byte // an incomplete last line
	last    []byte // at most tailSize bytes of the latest output
}

func newOutputWriter(name string, out *syncWriter) *outputWriter {
	return &outputWriter{prefix: name + ": ", out: out}
}

func (w *outputWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last = append(w.last, b...)
	if len(w.last) > tailSize {
		w.last = append(w.last[:0], w.last[len(w.last)-tailSize:]...)
	}
	if w.out == nil {
		return len(b), nil
	}
	w.partial = append(w.partial, b...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.emit(w.partial[:i+1])
		w.partial = w.partial[i+1:]
	}
	return len(b), nil
}

// flush writes an unterminated last line once the process has exited.
func (w *outputWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.out != nil && len(w.partial) > 0 {
		w.emit(append(w.partial, '\n'))
		w.partial = nil
	}
}

func (w *outputWriter) emit(line []byte) {
	// A failing console must not stop the control plane, so write errors are dropped.
	_, _ = w.out.Write(append([]byte(w.prefix), line...))
}

// tail returns the latest output, starting at a line boundary.
func (w *outputWriter) tail() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	t := w.last
	if len(t) == tailSize {
		if i := bytes.IndexByte(t, '\n'); i >= 0 {
			t = t[i+1:]
		}
	}
	return string(bytes.TrimRight(t, "\n"))
}

var (
	// errPortInUse is returned when the API server's fixed port is taken.
	errPortInUse = errors.New("port in use")
	// errDirInUse is returned when another control plane runs on the state directory.
	errDirInUse = errors.New("state directory in use")
)

// checkPortFree fails early and clearly when the API server's fixed port is taken,
// typically by another `make run`, instead of leaving kube-apiserver to exit with a
// bind error after etcd has started.
func checkPortFree(port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("%s: %w (is another local control plane running? choose another port): %v", addr, errPortInUse, err)
	}
	return l.Close()
}
