#!/usr/bin/env bash
# Builds Prometheus Alertmanager from the Go module proxy into bin/, for the end-to-end
# test and the load harness that run it as a real peer of Klaxon's intake. The binary
# lands in bin/alertmanager-<version> once; later calls return at once. Prints its path.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
version=v0.28.1
bin="$root/bin/alertmanager-$version"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$root/bin"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "building alertmanager $version into $bin (a minute or two, once)" >&2
# GOFLAGS=-mod=mod: `go install pkg@version` ignores the surrounding module anyway;
# this keeps a GOFLAGS=-mod=vendor in the caller's environment from breaking it.
if ! GOBIN="$tmp" GOFLAGS=-mod=mod go install "github.com/prometheus/alertmanager/cmd/alertmanager@$version" >"$tmp/log" 2>&1; then
  cat "$tmp/log" >&2
  exit 1
fi
# Moved into place only when complete, so an interrupted build is never mistaken for
# a cached one.
mv "$tmp/alertmanager" "$bin"
echo "$bin"
