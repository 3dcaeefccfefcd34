package postmortem

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"text/template"
	"text/template/parse"
	"unicode"
	"unicode/utf8"
)

// DefaultPathTemplate is spec.pathTemplate's default.
const DefaultPathTemplate = "postmortems/{{ .Year }}/{{ .Namespace }}/{{ .Name }}.md"

// maxPathLength is status.postmortem.path's bound; longer paths could not be recorded.
const maxPathLength = 1024

// unknownValue stands in for an empty severity or service, so a template that uses them
// still yields a path without an empty directory name.
const unknownValue = "unknown"

// PathData is what a path template sees.
type PathData struct {
	// Year the incident resolved (triggered, when it has not), four digits.
	Year string
	// Month, two digits.
	Month string
	// Namespace of the incident.
	Namespace string
	// Name of the incident.
	Name string
	// Severity in effect, or "unknown".
	Severity string
	// Service affected, or "unknown".
	Service string
}

// PathTemplate turns a record into the path of its file in the repository.
type PathTemplate struct {
	tmpl *template.Template
}

// ParsePathTemplate parses spec.pathTemplate (DefaultPathTemplate when empty). A template
// is a tenant's input run by the controller, so only field references, conditionals and
// the built-in functions are allowed: no range (range over an integer would spin), no
// define or template.
func ParsePathTemplate(text string) (*PathTemplate, error) {
	if strings.TrimSpace(text) == "" {
		text = DefaultPathTemplate
	}
	t, err := template.New("path").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("path template: %w", err)
	}
	if len(t.Templates()) > 1 {
		return nil, errors.New("path template: define and block are not allowed")
	}
	if err := checkPathNodes(t.Root); err != nil {
		return nil, fmt.Errorf("path template: %w", err)
	}
	return &PathTemplate{tmpl: t}, nil
}

func checkPathNodes(n parse.Node) error {
	switch n := n.(type) {
	case nil:
		return nil
	case *parse.ListNode:
		if n == nil {
			return nil
		}
		for _, c := range n.Nodes {
			if err := checkPathNodes(c); err != nil {
				return err
			}
		}
	case *parse.TextNode, *parse.CommentNode:
	case *parse.ActionNode:
		return checkPathNodes(n.Pipe)
	case *parse.IfNode:
		for _, c := range []parse.Node{n.Pipe, n.List, n.ElseList} {
			if err := checkPathNodes(c); err != nil {
				return err
			}
		}
	case *parse.PipeNode:
		if n == nil {
			return nil
		}
		for _, cmd := range n.Cmds {
			for _, arg := range cmd.Args {
				if err := checkPathNodes(arg); err != nil {
					return err
				}
			}
		}
	case *parse.IdentifierNode:
		// printf can be asked to pad to a gigabyte before anything is written, and call
		// runs functions; a path needs neither.
		if deniedPathFuncs[n.Ident] {
			return fmt.Errorf("function %s is not allowed", n.Ident)
		}
	case *parse.ChainNode:
		return checkPathNodes(n.Node)
	case *parse.FieldNode, *parse.DotNode, *parse.StringNode, *parse.NumberNode,
		*parse.BoolNode, *parse.NilNode, *parse.VariableNode:
	default:
		return fmt.Errorf("%s is not allowed; use fields, if and functions", n)
	}
	return nil
}

var deniedPathFuncs = map[string]bool{"printf": true, "print": true, "println": true, "call": true}

// Path executes the template for rec and validates the result.
func (p *PathTemplate) Path(rec Record) (string, error) {
	data := PathDataOf(rec)
	var b limitedBuilder
	if err := p.tmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("path template: %w", err)
	}
	return b.String(), ValidatePath(b.String())
}

// PathDataOf returns what a path template sees for rec.
func PathDataOf(rec Record) PathData {
	t := rec.Times.Resolved
	if t == nil {
		t = rec.Times.Triggered
	}
	d := PathData{
		Year:      "0000",
		Month:     "00",
		Namespace: rec.Incident.Namespace,
		Name:      rec.Incident.Name,
		Severity:  rec.Severity,
		Service:   rec.Service,
	}
	if t != nil {
		u := t.UTC()
		d.Year, d.Month = fmt.Sprintf("%04d", u.Year()), fmt.Sprintf("%02d", int(u.Month()))
	}
	if d.Severity == "" {
		d.Severity = unknownValue
	}
	if d.Service == "" {
		d.Service = unknownValue
	}
	return d
}

// ValidatePath accepts a clean, relative, slash-separated path of a file that git
// accepts in a tree (git fsck --strict clean): no "..", no ".git" component, no empty
// or "." components, no control characters, within status.postmortem.path's bound.
func ValidatePath(p string) error {
	switch {
	case p == "":
		return errors.New("path is empty")
	case len(p) > maxPathLength:
		return fmt.Errorf("path is longer than %d bytes", maxPathLength)
	case !utf8.ValidString(p):
		return fmt.Errorf("path %q is not valid UTF-8", p)
	case strings.HasPrefix(p, "/"):
		return fmt.Errorf("path %q is absolute", p)
	case strings.Contains(p, `\`):
		return fmt.Errorf("path %q contains a backslash", p)
	case path.Clean(p) != p:
		return fmt.Errorf("path %q is not clean (want %q)", p, path.Clean(p))
	}
	if strings.IndexFunc(p, unicode.IsControl) >= 0 {
		return fmt.Errorf("path %q contains a control character", p)
	}
	for _, c := range strings.Split(p, "/") {
		switch {
		case c == "..":
			return fmt.Errorf("path %q leaves the repository", p)
		case c == "." || c == "":
			return fmt.Errorf("path %q has an empty component", p)
		case strings.HasPrefix(strings.ToLower(strings.TrimRight(c, ". ")), ".git"):
			// .git, .gitmodules, .GIT. and the like are git's own; fsck rejects them.
			return fmt.Errorf("path %q names a git control file", p)
		case len(c) > 255:
			return fmt.Errorf("path %q has a component longer than 255 bytes", p)
		}
	}
	return nil
}

// limitedBuilder stops a template that writes more than a path can hold.
type limitedBuilder struct{ strings.Builder }

func (b *limitedBuilder) Write(p []byte) (int, error) {
	if b.Len()+len(p) > maxPathLength+1 {
		return 0, fmt.Errorf("path is longer than %d bytes", maxPathLength)
	}
	return b.Builder.Write(p)
}
