package policy

import (
	crand "crypto/rand"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// MaxSummary is the longest Record.Summary: status.decisions[].summary's bound.
const MaxSummary = 512

// Record describes one evaluation: the caller writes ID, Point, Time and
// Summary into the incident's status.decisions, Errors into its timeline, and
// keeps Input for the post-mortem record, from which Replay evaluates it again.
type Record struct {
	// ID is unique per evaluation and orders by creation time (UUID v7).
	ID string `json:"id"`
	// Point is the decision point.
	Point Point `json:"point"`
	// Time is the input's now: the time the decision is about.
	Time time.Time `json:"time"`
	// Summary is one line of at most MaxSummary bytes.
	Summary string `json:"summary"`
	// Input is the input document exactly as evaluated.
	Input json.RawMessage `json:"input"`
	// Policies are the policies whose contribution is in the decision, as
	// namespace/name@revision, the built-in library first ("builtin@...").
	Policies []string `json:"policies,omitempty"`
	// DecidedBy maps each output field that has a value to the policy that
	// set it last (namespace/name, or "builtin").
	DecidedBy map[string]string `json:"decidedBy,omitempty"`
	// Fallback is true when a provider's or tenant's policy failed or ran out
	// of time and its layer was left out; Errors say which and why.
	Fallback bool `json:"fallback,omitempty"`
	// Errors, one line each, e.g. "tenant policy acme/routing (revision
	// 1a2b3c4d): evaluation ran past the 100ms deadline: ...; the tenant's
	// policies were left out of this decision".
	Errors []string `json:"errors,omitempty"`
}

// idFallback numbers decisions when the system's randomness fails, so an id
// is still unique within the process.
var idFallback atomic.Uint64

// idSource feeds the random part of decision ids: ChaCha8 generators seeded
// from crypto/rand, pooled, so that an id costs no system call. Ids need to
// be unique, not secret; ChaCha8 is a cryptographic generator all the same.
var idSource = sync.Pool{New: func() any {
	var seed [32]byte
	if _, err := crand.Read(seed[:]); err != nil {
		return nil
	}
	return rand.NewChaCha8(seed)
}}

type idReader struct{}

func (idReader) Read(p []byte) (int, error) {
	c, _ := idSource.Get().(*rand.ChaCha8)
	if c == nil {
		return crand.Read(p)
	}
	n, err := c.Read(p)
	idSource.Put(c)
	return n, err
}

func newID() string {
	id, err := uuid.NewV7FromReader(idReader{})
	if err != nil {
		return fmt.Sprintf("%x-%d", time.Now().UnixNano(), idFallback.Add(1))
	}
	return id.String()
}

// setSummary writes the summary, noting a fallback, cut to MaxSummary bytes
// on a character boundary.
func (r *Record) setSummary(s string) {
	if r.Fallback {
		s += " (fallback: " + strings.Join(r.Errors, "; ") + ")"
	}
	// One line: messages from policies may hold line breaks.
	if !isOneLine(s) {
		s = strings.Join(strings.Fields(s), " ")
	}
	if len(s) > MaxSummary {
		cut := MaxSummary - len("...")
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	r.Summary = s
}

// isOneLine says whether strings.Join(strings.Fields(s), " ") is s: ASCII
// words separated by single spaces, as summaries almost always are.
func isOneLine(s string) bool {
	if s == "" {
		return true
	}
	if s[0] == ' ' || s[len(s)-1] == ' ' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch notPlain[s[i]] {
		case 1:
			return false
		case 2: // a space, which must not be followed by another
			if s[i+1] == ' ' {
				return false
			}
		}
	}
	return true
}

// notPlain is 1 for the bytes a one-line summary cannot hold (ASCII space
// characters other than ' ', and every non-ASCII byte, since
// unicode.IsSpace may hold for the rune it starts), 2 for ' ', else 0.
var notPlain = func() (t [256]byte) {
	for c := utf8.RuneSelf; c < 256; c++ {
		t[c] = 1
	}
	for _, c := range "\t\n\v\f\r" {
		t[c] = 1
	}
	t[' '] = 2
	return t
}()
