package policy

import (
	"regexp"
	"testing"
)

// TestIsCategoryName checks the category check against the pattern it
// stands for.
func TestIsCategoryName(t *testing.T) {
	pattern := regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	cases := fuzzStrings([]string{"", "-", "a", "a-", "-a", "a-b", "data-breach", "a\n", "A"}, 9, 20000, 6,
		"a", "z", "0", "9", "-", "A", "_", " ", "\n", "é", ".", "\xff")
	for _, s := range cases {
		if got, want := isCategoryName(s), pattern.MatchString(s); got != want {
			t.Errorf("isCategoryName(%q) = %v, want %v", s, got, want)
		}
	}
}
