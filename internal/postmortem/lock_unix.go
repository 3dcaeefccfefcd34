//go:build unix

package postmortem

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// lockDir takes an exclusive, non-blocking flock on dir/klaxon.lock for as long as the
// returned file stays open. The kernel drops it when the process dies, so unlike a lock
// file it cannot go stale; holding it is what lets recoverRefs treat every *.lock it
// finds as left by a crash.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "klaxon.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock cache %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock cache %s: %w", dir, ErrCacheInUse)
		}
		return nil, fmt.Errorf("lock cache %s: %w", dir, err)
	}
	return f, nil
}

// unlockDir releases lockDir's lock. The file stays: removing it would let a process
// that opened it before the removal lock a different file than the next one.
func unlockDir(f *os.File) error { return f.Close() }
