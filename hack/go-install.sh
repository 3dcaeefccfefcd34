#!/usr/bin/env bash
# go-install.sh NAME PACKAGE VERSION: builds a tool from the Go module proxy into
# bin/NAME-VERSION once; later calls return at once. Prints the binary's path.
set -euo pipefail

name=$1 pkg=$2 version=$3
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin="$root/bin/$name-$version"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$root/bin"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "building $name $version into $bin (a minute or two, once)" >&2
# GOFLAGS=-mod=mod: `go install pkg@version` ignores the surrounding module anyway;
# this keeps a GOFLAGS=-mod=vendor in the caller's environment from breaking it.
if ! GOBIN="$tmp" GOFLAGS=-mod=mod go install "$pkg@$version" >"$tmp/log" 2>&1; then
  cat "$tmp/log" >&2
  exit 1
fi
# Moved into place only when complete, so an interrupted build is never mistaken for
# a cached one.
mv "$tmp/$name" "$bin"
echo "$bin"
