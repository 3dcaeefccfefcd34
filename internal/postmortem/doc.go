// Package postmortem is the post-mortem engine: it turns a resolved Incident into a
// record, masks what must never reach git, and commits the record to a
// PostmortemRepository's remote, fast and safely.
//
// The pieces, in the order the controller uses them:
//
//   - FromIncident builds a Record from the Incident, its archived timeline and the
//     inputs of its policy decisions. Render writes it as Markdown with a versioned
//     YAML front matter (SCHEMA.md); ParseRecord reads the front matter back for
//     replay. Rendering is deterministic, so an unchanged record is committed once.
//   - A Redactor (NewRedactor) masks e-mail addresses, phone numbers, tokens and keys,
//     and the patterns and fields the spec and policy name, in both halves of the file.
//   - A PathTemplate places the file; ValidatePath keeps it inside the repository.
//   - A Repository keeps a bare local cache of the remote (one directory per
//     PostmortemRepository) and commits with Commit: each record is a commit built
//     from objects (blob, the trees on its path, the commit; no worktree), optionally
//     signed with OpenPGP, pushed over file://, http(s):// or ssh://. A remote that
//     moved is fetched and the commits rebuilt on its new head; records that arrive
//     together share one push; in PullRequest mode each incident gets its own branch
//     and a pull or merge request (Forge). Errors carry an ErrorKind for the retry.
//   - Store is the local half, usable alone: a bare repository with crash-safe ref
//     updates (lock file, fsync, rename) and recovery after a crash (refs.go).
//
// The controller reads the Secrets and calls OptionsFromSpec, Open, Prepare and
// Commit, then writes Result.Commit, Result.Path and Result.Branch (which may differ
// from the Change's: see Change.Paths) to status.postmortem.
package postmortem
