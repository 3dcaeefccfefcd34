#!/usr/bin/env bash
# Installs the Debian packages the tests use as real peers: git (with git-http-backend)
# and gnupg for post-mortem repositories, openssh-server for git over ssh, and
# util-linux's setpriv, with which internal/testenv starts kube-apiserver and etcd so
# they die with their test. Does nothing when they are already there.
set -euo pipefail

need=()
command -v git >/dev/null 2>&1 || need+=(git)
[[ -x /usr/lib/git-core/git-http-backend ]] || need+=(git)
command -v gpg >/dev/null 2>&1 || need+=(gnupg)
[[ -x /usr/sbin/sshd ]] || need+=(openssh-server)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
if ((${#need[@]} == 0)); then
  exit 0
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
