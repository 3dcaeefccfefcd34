package policy

import (
	"strings"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// SourceOf turns an IncidentPolicy into the unit the engine compiles.
func SourceOf(p *v1alpha1.IncidentPolicy) Source {
	src := Source{Namespace: p.Namespace, Name: p.Name, Modules: p.Spec.Modules, Tests: p.Spec.Tests}
	if p.Spec.Data != nil {
		src.Data = p.Spec.Data.Raw
	}
	return src
}

// ProblemText renders problems one per line.
func ProblemText(ps []Problem) string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}
