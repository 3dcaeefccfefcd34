package testenv

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// stablePortsFrom is where StablePort starts looking: above make run's API server
// port (18443) and the usual fixed ports.
const stablePortsFrom = 20000

var stablePorts = struct {
	sync.Mutex
	given map[int]*os.File // each port's lock file, held until the process exits
}{given: map[int]*os.File{}}

// StablePort returns a free port on 127.0.0.1 below the kernel's ephemeral range,
// for a server a test stops and starts again on the same port. A port from that range
// (what listening on port 0 gives) is free only until some connection on the machine
// gets it as its local port: a control plane restarted on its port failed in CI when
// a client of another package's test took it in between. Below the range only a
// listener that asks for the port can take it, and StablePort never gives one twice,
// in a process nor to test binaries running at once: each port it gives is locked
// (flock on a file under the temporary directory) until the process exits.
func StablePort() (int, error) {
	low := 32768 // Linux's default start of net.ipv4.ip_local_port_range
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	if low-stablePortsFrom < 100 {
		return 0, errors.New("the ephemeral port range starts below " + strconv.Itoa(stablePortsFrom+100) + ": no stable ports to test with")
	}
	stablePorts.Lock()
	defer stablePorts.Unlock()
	for range 200 {
		port := stablePortsFrom + rand.IntN(low-stablePortsFrom)
		if stablePorts.given[port] != nil {
			continue
		}
		lock, ok := lockPort(port)
		if !ok {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			_ = l.Close()
			stablePorts.given[port] = lock
			return port, nil
		}
		_ = lock.Close()
	}
	return 0, errors.New("no free port below the ephemeral range")
}

// lockPort takes port's lock file for this process, unless another process holds it.
func lockPort(port int) (*os.File, bool) {
	dir := filepath.Join(os.TempDir(), "klaxon-stable-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return nil, false
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, false
	}
	return f, true
}
