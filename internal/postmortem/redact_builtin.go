package postmortem

import (
	"math"
	"regexp"
	"strings"
	"unicode"
)

// builtinRules are applied in order, most specific first: once a webhook URL or a JWT is
// masked, the generic secret patterns further down cannot leave half of it behind.
var builtinRules = []rule{
	{name: "private-key", mask: "[redacted:private-key]",
		re: regexp.MustCompile(`-----BEGIN [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?-----END [A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----`)},
	{name: "jwt", mask: "[redacted:jwt]",
		re: regexp.MustCompile(`\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}`)},
	// Incoming-webhook URLs are credentials: whoever has one can post to the channel.
	{name: "slack-webhook", mask: "[redacted:slack-webhook]",
		re: regexp.MustCompile(`https://hooks\.slack(?:-gov)?\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/-]+`)},
	{name: "webhook", mask: "[redacted:webhook]",
		re: regexp.MustCompile(`https://(?:[A-Za-z0-9-]+\.)*(?:webhook\.office\.com/webhookb2|discord(?:app)?\.com/api/webhooks)/[^\s"'<>)\]]+`)},
	{name: "slack-token", mask: "[redacted:slack-token]",
		re: regexp.MustCompile(`\b(?:xox[abposre]-[A-Za-z0-9-]{10,}|xapp-[0-9]-[A-Za-z0-9-]{10,})`)},
	{name: "token", mask: "[redacted:token]",
		re: regexp.MustCompile(`\b(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,}|glpat-[A-Za-z0-9_-]{20,}|AIza[0-9A-Za-z_-]{35}|[rs]k_(?:live|test)_[0-9A-Za-z]{16,})`)},
	{name: "aws-key", mask: "[redacted:aws-key]",
		re: regexp.MustCompile(`\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|AIPA)[A-Z0-9]{16}\b`)},
	{name: "aws-key", mask: "[redacted:aws-key]",
		re: regexp.MustCompile(`(?i)aws[_-]?secret[_-]?(?:access[_-]?)?key["']?\s*[:=]\s*["']?(?P<secret>[A-Za-z0-9/+=]{40})`)},
	{name: "token", mask: "[redacted:token]",
		re: regexp.MustCompile(`(?i)\bbearer\s+(?P<secret>[A-Za-z0-9._~+/-]{8,}=*)`)},
	{name: "token", mask: "[redacted:token]",
		re: regexp.MustCompile(`(?i)\bauthorization["']?\s*[:=]\s*["']?(?:basic|token|bearer)?\s*(?P<secret>[A-Za-z0-9._~+/-]{8,}=*)`)},
	{name: "password", mask: "[redacted:password]",
		re: regexp.MustCompile(`\b[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@]+:(?P<secret>[^/\s@]+)@`)},
	{name: "secret", mask: "[redacted:secret]",
		re: regexp.MustCompile(`(?i)\b(?:password|passwd|pwd|passphrase|secret|client[_-]?secret|secret[_-]?key|api[_-]?key|apikey|access[_-]?key|private[_-]?key|token|access[_-]?token|refresh[_-]?token|auth[_-]?token|routing[_-]?key|webhook[_-]?url)\b["']?\s*[:=]\s*["']?(?P<secret>[^\s"',;&]{4,})`)},
	{name: "email", mask: "[redacted:email]",
		re: regexp.MustCompile(`\b[A-Za-z0-9._%+-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,}\b`)},
	// International numbers: +, country code, then groups; 8 to 15 digits (E.164).
	{name: "phone", mask: "[redacted:phone]", valid: phoneLike(8, 15),
		re: regexp.MustCompile(`\+[1-9][0-9 ().-]{6,22}[0-9]`)},
	// North American numbers: (555) 010-9999, 555-010-9999, 555.010.9999.
	{name: "phone", mask: "[redacted:phone]", valid: phoneLike(10, 10),
		re: regexp.MustCompile(`(?:\(\b[2-9][0-9]{2}\)\s?|\b[2-9][0-9]{2}[ .-])[0-9]{3}[ .-][0-9]{4}\b`)},
	// National numbers with a trunk prefix: 030 12345678, 0171-1234567, 020 7946 0958.
	{name: "phone", mask: "[redacted:phone]", valid: phoneLike(9, 13),
		re: regexp.MustCompile(`\b0[1-9][0-9]{1,4}[ /-][0-9]{3,8}(?:[ -][0-9]{2,6})?\b`)},
	{name: "secret", mask: "[redacted:secret]", valid: hexSecret,
		re: regexp.MustCompile(`\b[0-9A-Fa-f]{32,}\b`)},
	{name: "secret", mask: "[redacted:secret]", valid: highEntropy,
		re: regexp.MustCompile(`[A-Za-z0-9+/_-]{32,}={0,2}`)},
}

// phoneLike accepts a match with min..max digits that is not part of a longer number,
// a version string or an IP address.
func phoneLike(minDigits, maxDigits int) func(string, int, int) bool {
	return func(s string, start, end int) bool {
		m := s[start:end]
		digits := 0
		for _, c := range m {
			if c >= '0' && c <= '9' {
				digits++
			}
		}
		if digits < minDigits || digits > maxDigits {
			return false
		}
		if start > 0 && isAlnumOrDot(s[start-1]) {
			return false
		}
		if end < len(s) && (isAlnum(s[end]) || (s[end] == '.' && end+1 < len(s) && isDigit(s[end+1]))) {
			return false
		}
		// Two separators in a row are prose, not a number ("+1 - 2 days").
		return !strings.Contains(m, "  ") && !strings.Contains(m, "--") && !strings.Contains(m, "..")
	}
}

// hexSecret accepts long hex strings except digests that name their algorithm
// (sha256:..., image@sha256:...), which identify content rather than grant access, and
// runs of digits only, which are numbers.
func hexSecret(s string, start, end int) bool {
	prefix := strings.ToLower(s[max(0, start-8):start])
	for _, algo := range []string{"sha1:", "sha256:", "sha512:"} {
		if strings.HasSuffix(prefix, algo) {
			return false
		}
	}
	return strings.IndexFunc(s[start:end], unicode.IsLetter) >= 0 &&
		strings.IndexFunc(s[start:end], unicode.IsDigit) >= 0
}

// highEntropy accepts a base64 or base64url run that looks random: upper and lower case
// letters and digits, and close to the entropy of random text. Long identifiers, paths
// and words fall well short of it.
func highEntropy(s string, start, end int) bool {
	if start > 0 && (isAlnum(s[start-1]) || s[start-1] == '+' || s[start-1] == '/') {
		return false
	}
	m := strings.TrimRight(s[start:end], "=")
	var upper, lower, digit bool
	for _, c := range m {
		switch {
		case c >= 'A' && c <= 'Z':
			upper = true
		case c >= 'a' && c <= 'z':
			lower = true
		case c >= '0' && c <= '9':
			digit = true
		}
	}
	if !upper || !lower || !digit {
		return false
	}
	return entropy(m) >= 4.2
}

// entropy is the Shannon entropy of s in bits per character.
func entropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	var h float64
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isAlnum(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isAlnumOrDot(c byte) bool { return isAlnum(c) || c == '.' }
