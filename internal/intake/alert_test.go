package intake

import (
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// now is when the test requests arrive: shortly after the testdata's alerts began.
var now = time.Date(2026, 3, 29, 0, 47, 0, 0, time.UTC)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantRequestError fails unless err is a *RequestError with the status and field whose
// message contains every fragment.
func wantRequestError(t *testing.T, err error, status int, field string, fragments ...string) {
	t.Helper()
	var re *RequestError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v (%T), want a *RequestError", err, err)
	}
	if re.Status != status || re.Field != field {
		t.Fatalf("error = %d %q (%q), want %d %q", re.Status, re.Field, re.Message, status, field)
	}
	for _, f := range fragments {
		if !strings.Contains(re.Error(), f) {
			t.Errorf("error %q does not say %q", re.Error(), f)
		}
	}
}

// checkAlertInvariants holds for every alert Parse returns, whatever the input.
func checkAlertInvariants(t testing.TB, alerts []Alert) {
	t.Helper()
	for i, a := range alerts {
		switch {
		case a.Title == "" || strings.TrimSpace(a.Title) != a.Title:
			t.Fatalf("alert %d: title %q is empty or untrimmed", i, a.Title)
		case strings.ContainsAny(a.Title, "\n\r\t"):
			t.Fatalf("alert %d: title %q is not one line", i, a.Title)
		case utf8.RuneCountInString(a.Title) > MaxTitleLength:
			t.Fatalf("alert %d: title has %d characters", i, utf8.RuneCountInString(a.Title))
		case utf8.RuneCountInString(a.Description) > MaxDescriptionLength:
			t.Fatalf("alert %d: description too long", i)
		case a.Status != StatusFiring && a.Status != StatusResolved:
			t.Fatalf("alert %d: status %q", i, a.Status)
		case a.Fingerprint == "":
			t.Fatalf("alert %d: no fingerprint", i)
		case a.GroupKey == "" || len(a.GroupKey) > MaxGroupKeyLength:
			t.Fatalf("alert %d: group key %q", i, a.GroupKey)
		case a.StartsAt.IsZero():
			t.Fatalf("alert %d: no start", i)
		case a.Status == StatusResolved && a.EndsAt.IsZero():
			t.Fatalf("alert %d: resolved without an end", i)
		case a.SuggestedSeverity != "" && a.SuggestedSeverity.Rank() == 0:
			t.Fatalf("alert %d: suggested severity %q", i, a.SuggestedSeverity)
		}
	}
}

// checkParseError holds for every error Parse returns for a valid spec.
func checkParseError(t testing.TB, err error) {
	t.Helper()
	var re *RequestError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *RequestError", err, err)
	}
	if re.Status != http.StatusBadRequest && re.Status != http.StatusUnsupportedMediaType {
		t.Fatalf("error status %d", re.Status)
	}
	if re.Message == "" {
		t.Fatal("error without a message")
	}
}

func TestJSONContentTypes(t *testing.T) {
	spec := klaxonv1.AlertSourceSpec{Format: klaxonv1.FormatAlertmanager}
	body := []byte(`{"version":"4","alerts":[]}`)
	for _, tc := range []struct {
		contentType string
		ok          bool
	}{
		{"application/json", true},
		{"application/json; charset=utf-8", true},
		{"Application/JSON; charset=UTF-8", true},
		{"application/json;charset=utf8", true},
		{"application/json; charset=iso-8859-1", false},
		{"text/plain", false},
		{"application/x-www-form-urlencoded", false},
		{"", false},
		{"application/json; charset", false},
	} {
		t.Run(tc.contentType, func(t *testing.T) {
			_, err := Parse(spec, tc.contentType, nil, body, now)
			if tc.ok {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			wantRequestError(t, err, http.StatusUnsupportedMediaType, "")
		})
	}
}

func TestSuggestSeverity(t *testing.T) {
	spec := klaxonv1.AlertSourceSpec{
		SeverityMap:     map[string]klaxonv1.Severity{"critical": klaxonv1.SEV1, "Warning": klaxonv1.SEV3, "bogus": "SEV9"},
		DefaultSeverity: klaxonv1.SEV4,
	}
	for raw, want := range map[string]klaxonv1.Severity{
		"critical":   klaxonv1.SEV1,
		"CRITICAL":   klaxonv1.SEV1, // case-insensitive map entry
		"warning":    klaxonv1.SEV3,
		" critical ": klaxonv1.SEV1,
		"sev2":       klaxonv1.SEV2, // already a Klaxon severity
		"info":       klaxonv1.SEV4, // default
		"":           klaxonv1.SEV4,
		"bogus":      klaxonv1.SEV4, // an invalid map value is ignored
	} {
		if got := SuggestSeverity(spec, raw); got != want {
			t.Errorf("SuggestSeverity(%q) = %q, want %q", raw, got, want)
		}
	}
	if got := SuggestSeverity(klaxonv1.AlertSourceSpec{}, "info"); got != "" {
		t.Errorf("without map and default: %q, want empty (triage decides)", got)
	}
}

func TestTitleIsOneLineAndFits(t *testing.T) {
	long := strings.Repeat("é", 300)
	a := Alert{Title: "  disk\nfull\t on  db-1 ", Description: strings.Repeat("x", MaxDescriptionLength+5)}
	finish(klaxonv1.AlertSourceSpec{}, &a)
	if a.Title != "disk full on db-1" {
		t.Errorf("title %q", a.Title)
	}
	if utf8.RuneCountInString(a.Description) != MaxDescriptionLength || !strings.HasSuffix(a.Description, "…") {
		t.Errorf("description not cut to %d characters with an ellipsis", MaxDescriptionLength)
	}
	b := Alert{Title: long}
	finish(klaxonv1.AlertSourceSpec{}, &b)
	if n := utf8.RuneCountInString(b.Title); n != MaxTitleLength || !utf8.ValidString(b.Title) {
		t.Errorf("title has %d characters (valid UTF-8: %v)", n, utf8.ValidString(b.Title))
	}
}

func TestParseRefusesUnknownFormat(t *testing.T) {
	_, err := Parse(klaxonv1.AlertSourceSpec{Format: "Nagios"}, "application/json", nil, []byte(`{}`), now)
	if !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("error %v, want ErrInvalidSpec", err)
	}
	var re *RequestError
	if errors.As(err, &re) {
		t.Fatal("a bad spec is not the sender's fault, yet Parse returned a RequestError")
	}
	if err := ValidateSpec(klaxonv1.AlertSourceSpec{Format: "Nagios"}); !errors.Is(err, ErrInvalidSpec) {
		t.Fatalf("ValidateSpec: %v", err)
	}
}
