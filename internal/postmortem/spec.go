package postmortem

import (
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// CheckSpec reports, field by field, what in a PostmortemRepository's spec its schema
// admits but a commit could not work with: a path template or redaction pattern that
// does not compile, a URL that does not parse, holds credentials or is a relative
// file path, a branch name git refuses, a forge it cannot reach as configured, an ssh
// remote or signing without the Secret they need.
// Admission refuses such a spec; the controller reports it as not Ready.
func CheckSpec(spec klaxonv1.PostmortemRepositorySpec) []string {
	var out []string
	if _, err := ParsePathTemplate(spec.PathTemplate); err != nil {
		out = append(out, "spec.pathTemplate: "+err.Error())
	}
	if _, err := NewRedactor(spec.Redaction); err != nil {
		out = append(out, "spec.redaction: "+err.Error())
	}
	ep, err := remoteEndpoint(spec.URL)
	if err != nil {
		out = append(out, "spec.url: "+err.Error())
	}
	branch := spec.Branch
	if branch == "" {
		branch = DefaultBranch
	}
	if err := plumbing.NewBranchReferenceName(branch).Validate(); err != nil {
		out = append(out, fmt.Sprintf("spec.branch: %q is not a valid branch name", spec.Branch))
	}
	if spec.Forge != nil {
		// The token comes from a Secret; a stand-in lets NewForge check the rest.
		if _, err := NewForge(*spec.Forge, "admission", nil); err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				err = pe.Err
			}
			out = append(out, "spec.forge: "+err.Error())
		}
	}
	if spec.SecretRef == nil {
		switch {
		case ep != nil && ep.Protocol == "ssh":
			out = append(out, "spec.secretRef: an ssh remote needs a Secret with identity and known_hosts")
		case spec.Sign:
			out = append(out, "spec.secretRef: sign needs a Secret with signingKey")
		}
	}
	return out
}
