package intake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
)

// MaxFiring bounds the fingerprints an incident tracks as firing (the
// klaxon.dev/firing annotation): 100 fingerprints of at most 39 characters keep it
// under 5 KiB, and an incident far under its 128 KiB budget.
const MaxFiring = 100

// maxTrackedFingerprint is the longest fingerprint tracked as sent; longer ones (a
// Generic sender's own ids can be anything) are tracked by a hash of themselves.
const maxTrackedFingerprint = 64

// TrackedFingerprint is how a fingerprint is kept in the firing set and in
// status.alerts.fingerprints: as sent when short, else "sha256:" and 32 hex digits.
func TrackedFingerprint(fp string) string {
	if len(fp) <= maxTrackedFingerprint {
		return fp
	}
	sum := sha256.Sum256([]byte(fp))
	return "sha256:" + hex.EncodeToString(sum[:16])
}

// FiringSet is the fingerprints of an incident's alerts that are firing, at most
// MaxFiring of them; Overflow says more fired than it holds, so it cannot tell when
// all have resolved.
type FiringSet struct {
	fingerprints []string // sorted, distinct
	Overflow     bool
}

// NewFiringSet returns a set holding fingerprints (tracked forms, any order).
func NewFiringSet(fingerprints []string, overflow bool) *FiringSet {
	s := &FiringSet{Overflow: overflow}
	for _, fp := range fingerprints {
		s.Add(fp)
	}
	return s
}

// Clone returns a copy of the set that can change without changing s.
func (s *FiringSet) Clone() *FiringSet {
	return &FiringSet{fingerprints: slices.Clone(s.fingerprints), Overflow: s.Overflow}
}

// Add marks a fingerprint firing and reports whether the set changed.
func (s *FiringSet) Add(fp string) bool {
	fp = TrackedFingerprint(fp)
	i, found := slices.BinarySearch(s.fingerprints, fp)
	if found {
		return false
	}
	if len(s.fingerprints) >= MaxFiring {
		changed := !s.Overflow
		s.Overflow = true
		return changed
	}
	s.fingerprints = slices.Insert(s.fingerprints, i, fp)
	return true
}

// Remove marks a fingerprint resolved and reports whether it was firing.
func (s *FiringSet) Remove(fp string) bool {
	fp = TrackedFingerprint(fp)
	i, found := slices.BinarySearch(s.fingerprints, fp)
	if !found {
		return false
	}
	s.fingerprints = slices.Delete(s.fingerprints, i, i+1)
	return true
}

// Contains reports whether a fingerprint is firing.
func (s *FiringSet) Contains(fp string) bool {
	_, found := slices.BinarySearch(s.fingerprints, TrackedFingerprint(fp))
	return found
}

// Len is the number of tracked fingerprints.
func (s *FiringSet) Len() int { return len(s.fingerprints) }

// List returns the tracked fingerprints, sorted.
func (s *FiringSet) List() []string { return slices.Clone(s.fingerprints) }

// Equal reports whether two sets hold the same fingerprints and overflow flag.
func (s *FiringSet) Equal(o *FiringSet) bool {
	return s.Overflow == o.Overflow && slices.Equal(s.fingerprints, o.fingerprints)
}

// Covers reports whether s holds every fingerprint of o, and overflowed if o did: s
// only added to o.
func (s *FiringSet) Covers(o *FiringSet) bool {
	if o.Overflow && !s.Overflow {
		return false
	}
	for _, fp := range o.fingerprints {
		if _, found := slices.BinarySearch(s.fingerprints, fp); !found {
			return false
		}
	}
	return true
}

// EncodeFiring renders fingerprints for the klaxon.dev/firing annotation: a JSON
// array, so that fingerprints holding commas or quotes survive.
func EncodeFiring(fingerprints []string) string {
	if fingerprints == nil {
		fingerprints = []string{}
	}
	raw, _ := json.Marshal(fingerprints) // strings only: cannot fail
	return string(raw)
}

// DecodeFiring reads the klaxon.dev/firing annotation. ok is false when it is not a
// JSON array of strings (a person edited it by hand); the caller then treats the set
// as overflowed, so no resolution is inferred from what it cannot read.
func DecodeFiring(value string) (fingerprints []string, ok bool) {
	if value == "" {
		return nil, true
	}
	if err := json.Unmarshal([]byte(value), &fingerprints); err != nil {
		return nil, false
	}
	return fingerprints, true
}
