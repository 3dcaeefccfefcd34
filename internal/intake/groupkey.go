package intake

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
)

// MaxGroupKeyLength is the longest group key kept readable, the length of
// IncidentSource.groupKey; longer keys are replaced by a hash of themselves.
const MaxGroupKeyLength = 512

// maxNameLength keeps incident names valid DNS-1123 labels, not just subdomains: the
// name is also the value of the klaxon.dev/incident label, which allows 63 characters.
const maxNameLength = 63

// GroupKey says which incident an alert belongs to. With groupBy labels it is those
// labels and their values, sorted by name, e.g. {alertname="Disk",service="api"}; a
// label the alert lacks counts as empty, so such alerts group together. Without groupBy
// it is the sender's key: Alertmanager's groupKey, or the alert's fingerprint. A key
// longer than MaxGroupKeyLength becomes "sha256:<hex>" of itself: still deterministic,
// still distinct.
func GroupKey(groupBy []string, labels map[string]string, senderKey string) string {
	if len(groupBy) == 0 {
		return fitKey(senderKey)
	}
	names := append([]string(nil), groupBy...)
	sort.Strings(names)
	var b strings.Builder
	b.WriteByte('{')
	for i, name := range names {
		if i > 0 && name == names[i-1] {
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		// Quoting makes the key unambiguous whatever the values hold (commas, quotes).
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(labels[name]))
	}
	b.WriteByte('}')
	return fitKey(b.String())
}

func fitKey(key string) string {
	if len(key) <= MaxGroupKeyLength {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// IncidentName is the name of the seq-th incident (0, 1, ...) opened for a group: a
// readable prefix from the source name, a hash of the source and group key, and seq,
// e.g. "node-exporter-3f2a9c0d1b7e4f56-0". It is a valid DNS-1123 label (so also a
// label value) and deterministic, so replicas receiving the same alert at the same time
// race to create the same object and the loser gets AlreadyExists instead of opening a
// duplicate. A negative seq counts as 0.
func IncidentName(sourceName, groupKey string, seq int) string {
	n := strconv.Itoa(max(seq, 0))
	suffix := "-" + GroupHash(sourceName, groupKey) + "-" + n
	// Room for four digits whatever seq is, so a group's names share one prefix.
	prefix := dnsLabelPrefix(sourceName, maxNameLength-len(suffix)-max(0, 4-len(n)))
	if prefix == "" {
		prefix = "alert"
	}
	return prefix + suffix
}

// GroupHash identifies an alert group across a namespace: 16 hex digits of a hash
// of the source's name and the group key. It is the middle of IncidentName and the
// value of the klaxon.dev/alert-group label, which finds a group's incidents. The hash
// covers the whole source name: two sources whose names share a truncated prefix must
// not collide.
func GroupHash(sourceName, groupKey string) string {
	sum := sha256.Sum256([]byte(sourceName + "\x00" + groupKey))
	return hex.EncodeToString(sum[:8])
}

// dnsLabelPrefix lowercases name, replaces what a DNS label may not hold with '-',
// collapses runs of '-' and trims them from both ends, within limit characters.
func dnsLabelPrefix(name string, limit int) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			dash = false
			b.WriteRune(r)
			if b.Len() >= limit {
				break
			}
			continue
		}
		dash = true
	}
	s := b.String()
	if len(s) > limit {
		s = s[:limit]
	}
	return strings.TrimRight(s, "-")
}

// LabelsFingerprint is the fingerprint Prometheus and Alertmanager give a label set
// (64-bit FNV-1a over the sorted names and values, 16 hex digits), so an alert that
// arrives without one gets the same fingerprint Alertmanager would have sent.
func LabelsFingerprint(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for name := range labels {
		names = append(names, name)
	}
	sort.Strings(names)
	h := fnv.New64a()
	for _, name := range names {
		h.Write([]byte(name))
		h.Write([]byte{0xff})
		h.Write([]byte(labels[name]))
		h.Write([]byte{0xff})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// contentFingerprint identifies an alert that has no fingerprint of its own by its
// title and labels, the parts that stay the same from firing to resolved.
func contentFingerprint(title string, labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for name := range labels {
		names = append(names, name)
	}
	sort.Strings(names)
	h := sha256.New()
	h.Write([]byte(title))
	h.Write([]byte{0xff})
	for _, name := range names {
		h.Write([]byte(name))
		h.Write([]byte{0xff})
		h.Write([]byte(labels[name]))
		h.Write([]byte{0xff})
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}
