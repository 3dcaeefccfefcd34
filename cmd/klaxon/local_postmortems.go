package main

import (
	"context"
	"fmt"
	"path/filepath"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/klaxon-ops/klaxon/internal/localcluster"
)

// localPostmortemRepository is the PostmortemRepository `make run` creates in the
// system namespace, so every tenant's resolved incidents are committed to the local
// bare repository.
const localPostmortemRepository = "local"

// applyLocalPostmortems creates the bare repository under the state directory (kept
// across runs) and a PostmortemRepository pointing at it. It is built here rather than
// read from config/samples because its URL is an absolute path on this machine.
func applyLocalPostmortems(ctx context.Context, cfg *rest.Config, dir, systemNamespace string) (string, error) {
	remote := filepath.Join(dir, localcluster.PostmortemRemote)
	url, err := localcluster.InitBareRepository(remote)
	if err != nil {
		return "", err
	}
	pmr := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "klaxon.dev/v1alpha1",
		"kind":       "PostmortemRepository",
		"metadata":   map[string]any{"name": localPostmortemRepository, "namespace": systemNamespace},
		"spec": map[string]any{
			"url":    url,
			"branch": "main",
			"author": map[string]any{"name": "Klaxon (make run)", "email": "klaxon@localhost"},
		},
	}}
	if _, err := localcluster.ApplyObjects(ctx, cfg, pmr); err != nil {
		return "", fmt.Errorf("applying the local post-mortem repository: %w", err)
	}
	return remote, nil
}
