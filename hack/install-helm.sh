#!/usr/bin/env bash
# Builds helm into bin/ (once), for `make deploy` and the test that installs the chart
# (charts/klaxon) into a real kube-apiserver. Prints its path.
exec "$(dirname "${BASH_SOURCE[0]}")/go-install.sh" helm helm.sh/helm/v3/cmd/helm v3.22.0
