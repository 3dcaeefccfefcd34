package policy

import (
	"strings"
	"testing"
)

// TestIsOneLine checks the summary's fast path against what it stands for.
func TestIsOneLine(t *testing.T) {
	cases := fuzzStrings([]string{"", "a", "a b", " a", "a ", "a  b", "a\tb", "a\nb", "a\u00a0b", "é b", "a\u0085b", "severity=SEV1 category=x"},
		3, 5000, 8, "a", "b", " ", " ", "\t", "\n", "\r", "\v", "\f", "é", "\u00a0", "\u2003", "=")
	for _, s := range cases {
		if got, want := isOneLine(s), strings.Join(strings.Fields(s), " ") == s; got && !want {
			t.Errorf("isOneLine(%q) = true, but it is not one line", s)
		}
	}
	if !isOneLine("severity=SEV1 category=availability groups=a,b") {
		t.Error("a plain summary is not taken as one line")
	}
}

// TestTriageSummary checks the summary's text.
func TestTriageSummary(t *testing.T) {
	cases := []struct {
		d    TriageDecision
		want string
	}{
		{TriageDecision{}, "severity=- category=-"},
		{TriageDecision{Severity: "SEV2", Category: "security", Service: "pay", EscalationPolicy: "ops/sec",
			StakeholderGroups: []string{"a", "b/c"}, Runbooks: []string{"r1"}, Enforced: []string{FieldSeverity, FieldCategory}},
			"severity=SEV2 category=security service=pay escalationPolicy=ops/sec groups=a,b/c runbooks=r1 enforced=severity,category"},
		{TriageDecision{Severity: "SEV5", Runbooks: []string{"x", "y"}}, "severity=SEV5 category=- runbooks=x,y"},
	}
	for _, c := range cases {
		if got := c.d.summary(); got != c.want {
			t.Errorf("summary = %q, want %q", got, c.want)
		}
		// The text is written into one allocation of its exact size.
		if n := testing.AllocsPerRun(10, func() { _ = c.d.summary() }); n != 1 {
			t.Errorf("summary %q: %v allocations, want 1", c.want, n)
		}
	}
}
