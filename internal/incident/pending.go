package incident

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"sync"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// MaxPending is the bound on status.pendingDecisions (the CRD's maxLength counts the
// base64 the API server stores, 4 characters for every 3 bytes).
const MaxPending = 49152 / 4 * 3

// Pending reads the decision records written ahead in st.pendingDecisions, oldest
// first.
func Pending(st *klaxonv1.IncidentStatus) ([]klaxonv1.IncidentDecisionSpec, error) {
	if len(st.PendingDecisions) == 0 {
		return nil, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(st.PendingDecisions))
	if err != nil {
		return nil, fmt.Errorf("reading status.pendingDecisions: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(zr, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("reading status.pendingDecisions: %w", err)
	}
	var specs []klaxonv1.IncidentDecisionSpec
	if err := json.Unmarshal(raw, &specs); err != nil {
		return nil, fmt.Errorf("decoding status.pendingDecisions: %w", err)
	}
	return specs, nil
}

// gzipWriters keep compressors for SetPending, which runs before every claim: a new
// one allocates and clears several hundred KiB of tables.
var gzipWriters = sync.Pool{New: func() any {
	// The records are JSON that repeats the incident in every input: the fastest
	// level already takes them to about a fifth.
	zw, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed) // a valid level cannot fail
	return zw
}}

// SetPending writes specs to st.pendingDecisions (clearing it when there are none).
// It reports false, and leaves st alone, when they do not fit the field's bound: the
// caller then stores their objects before the status that refers to them.
func SetPending(st *klaxonv1.IncidentStatus, specs []klaxonv1.IncidentDecisionSpec) (bool, error) {
	if len(specs) == 0 {
		st.PendingDecisions = nil
		return true, nil
	}
	raw, err := json.Marshal(specs)
	if err != nil {
		return false, fmt.Errorf("encoding pending decisions: %w", err)
	}
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(raw); err != nil {
		return false, fmt.Errorf("compressing pending decisions: %w", err)
	}
	if err := zw.Close(); err != nil {
		return false, fmt.Errorf("compressing pending decisions: %w", err)
	}
	if buf.Len() > MaxPending {
		return false, nil
	}
	st.PendingDecisions = buf.Bytes()
	return true, nil
}

// WithoutStored is specs without those whose record ids (RecordID) are in stored.
func WithoutStored(specs []klaxonv1.IncidentDecisionSpec, stored map[string]bool) []klaxonv1.IncidentDecisionSpec {
	var out []klaxonv1.IncidentDecisionSpec
	for _, s := range specs {
		if !stored[RecordID(s)] {
			out = append(out, s)
		}
	}
	return out
}
