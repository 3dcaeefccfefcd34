package postmortem

import (
	"strings"
	"testing"
)

func TestPathTemplate(t *testing.T) {
	rec := fixtureRecord(t)
	for tmpl, want := range map[string]string{
		"": "postmortems/2026/acme/checkout-db-leak.md",
		"{{ .Year }}/{{ .Month }}/{{ .Severity }}-{{ .Service }}-{{ .Name }}.md":                  "2026/03/SEV1-checkout-checkout-db-leak.md",
		"records/{{ if eq .Severity \"SEV1\" }}major{{ else }}minor{{ end }}/{{ .Namespace }}.md": "records/major/acme.md",
		"{{ .Namespace }}/{{ .Name }}{{/* comment */}}.md":                                        "acme/checkout-db-leak.md",
	} {
		p, err := ParsePathTemplate(tmpl)
		if err != nil {
			t.Errorf("%q: %v", tmpl, err)
			continue
		}
		got, err := p.Path(rec)
		if err != nil || got != want {
			t.Errorf("%q: %q, %v; want %q", tmpl, got, err, want)
		}
	}
	// Empty severity and service do not make an empty directory name.
	bare := Record{Incident: IncidentRef{Namespace: "a", Name: "b"}}
	p, _ := ParsePathTemplate("{{ .Severity }}/{{ .Service }}/{{ .Year }}/{{ .Name }}.md")
	if got, err := p.Path(bare); err != nil || got != "unknown/unknown/0000/b.md" {
		t.Errorf("bare record: %q, %v", got, err)
	}
}

func TestPathTemplateRefuses(t *testing.T) {
	for _, tmpl := range []string{
		"{{ range 100000000000 }}{{ end }}x.md",
		`{{ printf "%0999999999d" 1 }}`,
		`{{ define "x" }}y{{ end }}{{ template "x" }}`,
		"{{ .Nope }}.md",
		"{{ .Name",
		`{{ (printf "%s" .Name) }}.md`,
	} {
		p, err := ParsePathTemplate(tmpl)
		if err == nil {
			_, err = p.Path(fixtureRecord(t))
		}
		if err == nil {
			t.Errorf("%q: accepted", tmpl)
		}
	}
	rec := fixtureRecord(t)
	for _, tmpl := range []string{
		"../{{ .Name }}.md", "/etc/{{ .Name }}", "{{ .Namespace }}//{{ .Name }}.md", "./{{ .Name }}.md",
		".git/hooks/{{ .Name }}", "a/.GIT/{{ .Name }}", ".gitmodules", "a/{{ .Name }}/", "a\\b.md",
		strings.Repeat("x/", 600) + "{{ .Name }}.md",
	} {
		p, err := ParsePathTemplate(tmpl)
		if err != nil {
			continue
		}
		if got, err := p.Path(rec); err == nil {
			t.Errorf("%q gave %q, want an error", tmpl, got)
		}
	}
	// A value that would climb out of the repository is refused too.
	rec.Service = "../../etc"
	p, _ := ParsePathTemplate("{{ .Service }}/{{ .Name }}.md")
	if got, err := p.Path(rec); err == nil {
		t.Errorf("service with ..: %q", got)
	}
}

func FuzzValidatePath(f *testing.F) {
	for _, s := range []string{"postmortems/2026/a/b.md", "../x", "a//b", ".git/x", "a/./b", "/abs"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if ValidatePath(p) != nil {
			return
		}
		for _, c := range strings.Split(p, "/") {
			if c == "" || c == "." || c == ".." || strings.EqualFold(c, ".git") {
				t.Errorf("accepted %q", p)
			}
		}
	})
}
