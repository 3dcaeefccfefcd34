package postmortem

import (
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"go.yaml.in/yaml/v3"
)

// Records of two incidents never share a file, nor a pull request branch. Intake names
// incidents by alert group and sequence, and the sequence starts again once retention
// has deleted a group's incidents; people reuse names too. So the path template's path
// (and postmortem/<namespace>/<name>) is the record's only while no other incident
// holds it; otherwise the record goes to the same path with "-" and the first 8
// characters of the incident's UID before the extension (the whole UID if another
// incident holds that too). The choice depends on what the branch holds, so a retry or
// a re-commit of the same incident finds the same file, and a record is still committed
// at most once per content. In PullRequest mode a record kept off another incident's
// branch also keeps off its path, where that incident's pull request adds its file.
//
// Whose a file is comes from its front matter (incident.uid, or a different
// namespace/name); whose a branch is, from the Klaxon-Incident-UID trailer of its
// latest record commit. What says neither (a file without front matter, a record or
// commit without a UID) counts as this incident's, as before: it cannot be told apart
// from an earlier version of this very record, and moving that would leave two files.

// uidSuffixLength is how much of the UID tells apart two incidents of the same name.
const uidSuffixLength = 8

// ownerWalkLimit bounds the commits read to find the latest record commit of a branch.
const ownerWalkLimit = 20

// owner says whose record a file or branch holds.
type owner int

const (
	// ownerUnknown: nothing tells; taken as this incident's.
	ownerUnknown owner = iota
	ownerThis
	ownerOther
)

// Paths returns where the record may be written, in order of preference: Path, then
// Path with the incident's UID (its first 8 characters, then all of it) before the
// extension. Without a usable Incident.UID it is Path alone. Result.Path says which
// one the commit used.
func (ch Change) Paths() []string {
	out := []string{ch.Path}
	for _, s := range uidSuffixes(ch.Incident.UID) {
		dir, file := path.Split(ch.Path)
		ext := path.Ext(file)
		p := dir + strings.TrimSuffix(file, ext) + "-" + s + ext
		if ValidatePath(p) == nil {
			out = append(out, p)
		}
	}
	return out
}

// branches returns the branches the record may go to, in order of preference: Branch,
// then, for the incident's own pull request branch, the same with the UID suffixes.
func (ch Change) branches() []string {
	out := []string{ch.Branch}
	if ch.Branch != PullRequestBranch(ch.Incident.Namespace, ch.Incident.Name) {
		return out
	}
	for _, s := range uidSuffixes(ch.Incident.UID) {
		b := ch.Branch + "-" + s
		if plumbing.NewBranchReferenceName(b).Validate() == nil {
			out = append(out, b)
		}
	}
	return out
}

// uidSuffixes returns the suffixes that tell uid's record apart, shortest first; none
// for an empty UID or one that is not letters, digits and dashes (a Kubernetes UID is
// a UUID).
func uidSuffixes(uid string) []string {
	if uid == "" || strings.Trim(uid, "-") != uid || strings.IndexFunc(uid, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-')
	}) >= 0 {
		return nil
	}
	if len(uid) <= uidSuffixLength {
		return []string{uid}
	}
	short := strings.TrimRight(uid[:uidSuffixLength], "-")
	return []string{short, uid}
}

// place returns the path ch's record goes to on top of parent (see Paths): the first
// that holds this content or this incident's record, else the first that is free or
// whose owner is unknown.
func (b *builder) place(parent plumbing.Hash, ch Change) (string, error) {
	paths := ch.Paths()
	if len(paths) == 1 {
		return ch.Path, nil
	}
	want := plumbing.ComputeHash(plumbing.BlobObject, ch.Content)
	blobs := make([]plumbing.Hash, len(paths))
	for i, p := range paths {
		h, err := b.fileAt(parent, p)
		if err != nil {
			return "", err
		}
		if h == want {
			return p, nil
		}
		blobs[i] = h
	}
	free := ""
	for i, p := range paths {
		o := ownerUnknown
		if !blobs[i].IsZero() {
			var err error
			if o, err = b.fileOwner(blobs[i], ch.Incident); err != nil {
				return "", err
			}
		}
		switch {
		case o == ownerThis:
			return p, nil
		case o == ownerUnknown && free == "" && (i > 0 || !ch.pathTaken):
			free = p
		}
	}
	if free == "" {
		return "", fmt.Errorf("path %q and its alternatives hold the records of other incidents", ch.Path)
	}
	return free, nil
}

// fileOwner says whose record blob h is, from its front matter.
func (b *builder) fileOwner(h plumbing.Hash, inc IncidentRef) (owner, error) {
	obj, err := b.s.EncodedObject(plumbing.BlobObject, h)
	if err != nil {
		return ownerUnknown, fmt.Errorf("read blob %s: %w", h, err)
	}
	rd, err := obj.Reader()
	if err != nil {
		return ownerUnknown, fmt.Errorf("read blob %s: %w", h, err)
	}
	defer rd.Close()
	content, err := io.ReadAll(rd)
	if err != nil {
		return ownerUnknown, fmt.Errorf("read blob %s: %w", h, err)
	}
	fm, err := frontMatter(content)
	if err != nil {
		return ownerUnknown, nil
	}
	// Only the incident is read, whatever the schema: a record of a later schema is
	// still some incident's.
	var head struct {
		Incident IncidentRef `yaml:"incident"`
	}
	if yaml.Unmarshal(fm, &head) != nil {
		return ownerUnknown, nil
	}
	return compareIncident(head.Incident, inc), nil
}

// branchOwner says whose record branch head holds: the UID trailer of its latest
// commit that has one (a reviewer's commit on top has none).
func (b *builder) branchOwner(head plumbing.Hash, inc IncidentRef) (owner, error) {
	cur := head
	for range ownerWalkLimit {
		c, err := b.commit(cur)
		if err != nil {
			return ownerUnknown, err
		}
		if ns, name, uid, ok := incidentTrailers(c.Message); ok {
			return compareIncident(IncidentRef{Namespace: ns, Name: name, UID: uid}, inc), nil
		}
		if len(c.ParentHashes) == 0 {
			break
		}
		cur = c.ParentHashes[0]
	}
	return ownerUnknown, nil
}

// compareIncident says whether got, what a file or commit names, is inc.
func compareIncident(got, inc IncidentRef) owner {
	switch {
	case got.UID != "" && inc.UID != "":
		if got.UID == inc.UID {
			return ownerThis
		}
		return ownerOther
	case got.Namespace != "" && got.Name != "" && (got.Namespace != inc.Namespace || got.Name != inc.Name):
		return ownerOther
	}
	return ownerUnknown
}

// incidentTrailers reads the Klaxon-Incident and Klaxon-Incident-UID trailers of a
// commit message (see CommitMessage); ok is false without a Klaxon-Incident trailer.
func incidentTrailers(msg string) (namespace, name, uid string, ok bool) {
	for line := range strings.Lines(msg) {
		line = strings.TrimSpace(line)
		if v, found := strings.CutPrefix(line, "Klaxon-Incident-UID:"); found {
			uid = strings.TrimSpace(v)
		} else if v, found := strings.CutPrefix(line, "Klaxon-Incident:"); found {
			namespace, name, _ = strings.Cut(strings.TrimSpace(v), "/")
			ok = true
		}
	}
	return namespace, name, uid, ok
}
