package localcluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
)

// PostmortemRemote is the bare repository, under Dir, that `make run` commits
// post-mortem records to: `git -C .klaxon/postmortems.git log` shows them.
const PostmortemRemote = "postmortems.git"

// InitBareRepository creates an empty bare git repository at path whose default branch
// is main, unless a repository is already there, and returns its file:// URL. It uses
// go-git, so `make run` needs no git binary.
func InitBareRepository(path string) (string, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", fmt.Errorf("post-mortem repository %s: %w", path, err)
	}
	_, err = git.PlainOpen(abs)
	switch {
	case err == nil:
		// Already there, with the records of earlier runs.
	case errors.Is(err, git.ErrRepositoryNotExists):
		if err := os.MkdirAll(abs, 0o755); err != nil {
			return "", fmt.Errorf("post-mortem repository: %w", err)
		}
		if _, err := git.PlainInitWithOptions(abs, &git.PlainInitOptions{
			Bare: true, InitOptions: git.InitOptions{DefaultBranch: plumbing.Main},
		}); err != nil {
			return "", fmt.Errorf("post-mortem repository: git init --bare %s: %w", abs, err)
		}
	default:
		return "", fmt.Errorf("post-mortem repository %s: %w", abs, err)
	}
	return "file://" + filepath.ToSlash(abs), nil
}

// ApplyObjects server-side applies objects as Apply applies the files of a directory
// (field manager "klaxon-local", conflicts forced), for objects built at run time,
// such as a PostmortemRepository whose URL is an absolute path on this machine.
func ApplyObjects(ctx context.Context, cfg *rest.Config, objs ...*unstructured.Unstructured) ([]string, error) {
	ms := make([]manifest, 0, len(objs))
	for _, o := range objs {
		m := manifest{source: "built-in " + o.GetKind() + " " + o.GetName(), obj: o}
		if err := m.validate(); err != nil {
			return nil, err
		}
		ms = append(ms, m)
	}
	a, err := newApplier(cfg)
	if err != nil {
		return nil, err
	}
	return a.apply(ctx, ms)
}
