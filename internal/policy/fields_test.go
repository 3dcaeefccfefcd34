package policy

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// TestIsCategoryName checks the category check against the pattern it
// stands for.
func TestIsCategoryName(t *testing.T) {
	pattern := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	r := rand.New(rand.NewPCG(9, 10))
	alphabet := []string{"a", "z", "0", "9", "-", "A", "_", " ", "\n", "é", ".", "\xff"}
	cases := []string{"", "-", "a", "a-", "-a", "a-b", "data-breach", "a\n", "A"}
	for range 20000 {
		var b strings.Builder
		for range r.IntN(6) {
			b.WriteString(alphabet[r.IntN(len(alphabet))])
		}
		cases = append(cases, b.String())
	}
	for _, s := range cases {
		if got, want := isCategoryName(s), pattern.MatchString(s); got != want {
			t.Errorf("isCategoryName(%q) = %v, want %v", s, got, want)
		}
	}
}
