package postmortem

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/format/idxfile"
	"github.com/go-git/go-git/v5/plumbing/format/packfile"
)

// New objects reach the disk when a commit or batch is complete, before the ref that
// makes them reachable. Store.Commit writes loose objects; a Repository batch writes one
// pack with go-git's pack writer (a temporary file, the index, then a rename, so a pack
// appears whole or not at all), and the same bytes are what the push sends. Small packs
// are merged geometrically (see consolidatePacks): by Maintain, and by a batch once
// there are more than autoMaxPacks.

// autoMaxPacks is how many packs a batch tolerates before it merges small ones. A
// merge rewrites objects and removes files, so a batch that merges is slow; a high mark
// makes that rare (once in hundreds of batches), and the cost of many packs is small:
// an object lookup that misses the tree cache searches each pack's index, in memory.
// Maintain merges without waiting for the mark.
const autoMaxPacks = 256

// flushLoose writes the pending objects as loose objects, one file each: for a single
// record that is the cheapest way (go-git's pack writer indexes what it writes, about
// two milliseconds of CPU that six small files do not cost).
func (b *builder) flushLoose(st *safeStorage) error {
	for _, h := range b.written {
		if _, err := st.SetEncodedObject(b.pending[h]); err != nil {
			return fmt.Errorf("write object %s: %w", h, err)
		}
	}
	b.discard()
	return nil
}

// flush writes the pending objects as one pack and returns its bytes (nil when nothing
// is pending), for a batch: two files instead of six per record, and the bytes are the
// pack the push sends.
func (b *builder) flush(st *safeStorage) ([]byte, error) {
	if len(b.written) == 0 {
		return nil, nil
	}
	var pack bytes.Buffer
	// Window 0: no delta search. The objects are a handful of small trees, blobs that
	// differ from everything, and commits; deltas would save little and cost time.
	if _, err := packfile.NewEncoder(&pack, b.s, false).Encode(b.written, 0); err != nil {
		return nil, fmt.Errorf("encode pack: %w", err)
	}
	if err := writePack(st, pack.Bytes()); err != nil {
		return nil, err
	}
	b.discard()
	return pack.Bytes(), nil
}

func writePack(st *safeStorage, pack []byte) error {
	w, err := st.PackfileWriter()
	if err != nil {
		return fmt.Errorf("write pack: %w", err)
	}
	if _, err := w.Write(pack); err != nil {
		w.Close()
		return fmt.Errorf("write pack: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("write pack: %w", err)
	}
	return nil
}

// packInfo is a pack and how many objects it holds.
type packInfo struct {
	hash    plumbing.Hash
	objects uint32
}

// consolidatePacks merges small packs once there are more than maxPacks, the way
// `git repack --geometric=2` does: sorted by size, every pack up to the largest one that
// holds fewer than twice the objects of all smaller packs together is merged into one.
// Afterwards each pack holds at least twice as many objects as all smaller ones, so an
// object is rewritten a logarithmic number of times. The merged pack is complete on disk
// before the old ones go, so a crash leaves at worst objects in two packs.
func consolidatePacks(st *safeStorage, gitDir string, threshold int) error {
	hashes, err := st.ObjectPacks()
	if err != nil {
		return fmt.Errorf("list packs: %w", err)
	}
	if len(hashes) <= max(threshold, 2) {
		return nil
	}
	packs := make([]packInfo, 0, len(hashes))
	for _, h := range hashes {
		n, err := packObjectCount(gitDir, h)
		if err != nil {
			return err
		}
		packs = append(packs, packInfo{hash: h, objects: n})
	}
	sort.Slice(packs, func(i, j int) bool { return packs[i].objects < packs[j].objects })
	// The largest pack (the repository as the first fetch brought it) is never
	// rewritten: merging it would copy the whole repository, seconds on a big one.
	packs = packs[:len(packs)-1]
	last, sum := 0, uint64(0)
	for i, p := range packs {
		if i > 0 && uint64(p.objects) < 2*sum {
			last = i
		}
		sum += uint64(p.objects)
	}
	if last == 0 {
		return nil
	}
	merge := packs[:last+1]

	var objects []plumbing.Hash
	seen := map[plumbing.Hash]bool{}
	for _, p := range merge {
		hs, err := packObjects(gitDir, p.hash)
		if err != nil {
			return err
		}
		for _, h := range hs {
			if !seen[h] {
				seen[h] = true
				objects = append(objects, h)
			}
		}
	}
	var pack bytes.Buffer
	if _, err := packfile.NewEncoder(&pack, st, false).Encode(objects, 0); err != nil {
		return fmt.Errorf("merge packs: %w", err)
	}
	if err := writePack(st, pack.Bytes()); err != nil {
		return err
	}
	for _, p := range merge {
		if err := st.DeleteOldObjectPackAndIndex(p.hash, time.Time{}); err != nil {
			return fmt.Errorf("remove merged pack: %w", err)
		}
	}
	// go-git keeps the indexes of the packs it has seen; read them again.
	st.Reindex()
	return nil
}

// packObjectCount reads the object count from a pack index: the last entry of the
// fan-out table of a version 2 index.
func packObjectCount(gitDir string, h plumbing.Hash) (uint32, error) {
	f, err := os.Open(idxPath(gitDir, h))
	if err != nil {
		return 0, fmt.Errorf("read pack index: %w", err)
	}
	defer f.Close()
	var b [4]byte
	if _, err := f.ReadAt(b[:], 8+255*4); err != nil {
		return 0, fmt.Errorf("read pack index %s: %w", h, err)
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

func packObjects(gitDir string, h plumbing.Hash) ([]plumbing.Hash, error) {
	f, err := os.Open(idxPath(gitDir, h))
	if err != nil {
		return nil, fmt.Errorf("read pack index: %w", err)
	}
	defer f.Close()
	idx := idxfile.NewMemoryIndex()
	if err := idxfile.NewDecoder(f).Decode(idx); err != nil {
		return nil, fmt.Errorf("read pack index %s: %w", h, err)
	}
	it, err := idx.Entries()
	if err != nil {
		return nil, fmt.Errorf("read pack index %s: %w", h, err)
	}
	defer it.Close()
	var out []plumbing.Hash
	for {
		e, err := it.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read pack index %s: %w", h, err)
		}
		out = append(out, e.Hash)
	}
}

func idxPath(gitDir string, h plumbing.Hash) string {
	return filepath.Join(gitDir, "objects", "pack", "pack-"+h.String()+".idx")
}

// removePartialPacks deletes what an interrupted pack write leaves: go-git's temporary
// files, and an index whose pack was never renamed into place.
func removePartialPacks(gitDir string) {
	dir := filepath.Join(gitDir, "objects", "pack")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	have := map[string]bool{}
	for _, e := range entries {
		have[e.Name()] = true
	}
	for _, e := range entries {
		n := e.Name()
		switch {
		case strings.HasPrefix(n, "tmp_"):
			_ = os.Remove(filepath.Join(dir, n))
		case strings.HasSuffix(n, ".idx") && !have[strings.TrimSuffix(n, ".idx")+".pack"]:
			_ = os.Remove(filepath.Join(dir, n))
		}
	}
}
