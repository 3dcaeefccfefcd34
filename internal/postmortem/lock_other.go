//go:build !unix

package postmortem

import (
	"fmt"
	"os"
	"path/filepath"
)

// lockDir creates dir/klaxon.lock exclusively where flock is not available. Unlike the
// flock of unix systems it survives a crash, and must then be removed by hand.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "klaxon.lock"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock cache %s: %w: %v", dir, ErrCacheInUse, err)
	}
	return f, nil
}

// unlockDir releases lockDir's lock by removing the file.
func unlockDir(f *os.File) error {
	f.Close()
	return os.Remove(f.Name())
}
