#!/usr/bin/env bash
# Builds the control plane used by tests, `make run` and the end-to-end tests from the
# Go module proxy: kube-apiserver, kube-controller-manager and kubectl
# (k8s.io/kubernetes) and etcd, each from a tools module of its own under hack/tools/
# so the product's go.mod never requires k8s.io/kubernetes. Binaries land in
# bin/k8s/<version>/ once; later calls return at once. Prints the directory, ready for
# KUBEBUILDER_ASSETS.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
k8s_version=1.37.2
etcd_version=$(sed -n 's|^require go.etcd.io/etcd/server/v3 v||p' "$root/hack/tools/etcd/go.mod")
dir="$root/bin/k8s/$k8s_version"
# The stamp names what the build stamps into the binaries, so a change rebuilds them.
stamp="$dir/.complete-etcd-$etcd_version-versioned"

if [[ -x "$dir/kube-apiserver" && -x "$dir/kube-controller-manager" && -x "$dir/kubectl" && -x "$dir/etcd" && -f "$stamp" ]]; then
  echo "$dir"
  exit 0
fi

mkdir -p "$dir"
# The Kubernetes build is big; keep it quiet unless it fails.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "building kube-apiserver, kube-controller-manager, kubectl $k8s_version and etcd $etcd_version into $dir (a few minutes, once)" >&2
# Stamp the version, as Kubernetes' own build does: without it kube-apiserver reports
# v0.0.0-master, and clients that check the server's version (helm's kubeVersion)
# refuse it.
ldflags=""
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=v$k8s_version -X $pkg.gitMajor=${k8s_version%%.*} -X $pkg.gitMinor=$(cut -d. -f2 <<<"$k8s_version") -X $pkg.gitTreeState=clean"
done
if ! (cd "$root/hack/tools/k8s" && go build -trimpath -ldflags="$ldflags" -o "$dir/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl) >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
if ! (cd "$root/hack/tools/etcd" && go build -trimpath -o "$dir/etcd" .) >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
touch "$stamp"
echo "$dir"
