// Package policies holds Klaxon's built-in Rego library: the defaults every
// tenant starts from, embedded in the binary. README.md in this directory is
// the contract of every decision point: its input, its output and how the
// provider's and tenants' policies layer over these defaults.
package policies

import (
	"embed"
	"io/fs"
	"strings"
)

// files holds the library; tests sit next to the modules they test.
//
//go:embed *.rego
var files embed.FS

// Modules returns the library's Rego modules, file name to source, without
// their tests. Each call returns a new map the caller may keep.
func Modules() map[string]string { return read(func(name string) bool { return !isTest(name) }) }

// Tests returns the library's Rego test modules (*_test.rego), file name to
// source.
func Tests() map[string]string { return read(isTest) }

func isTest(name string) bool { return strings.HasSuffix(name, "_test.rego") }

func read(keep func(string) bool) map[string]string {
	out := map[string]string{}
	entries, err := fs.ReadDir(files, ".")
	if err != nil {
		// The embedded tree is fixed at build time; reading its root cannot fail.
		return out
	}
	for _, e := range entries {
		if e.IsDir() || !keep(e.Name()) {
			continue
		}
		b, err := fs.ReadFile(files, e.Name())
		if err != nil {
			continue
		}
		out[e.Name()] = string(b)
	}
	return out
}
