#!/usr/bin/env bash
# Builds Prometheus Alertmanager into bin/ (once), for the end-to-end test and the load
# harness that run it as a real peer of Klaxon's intake. Prints its path.
exec "$(dirname "${BASH_SOURCE[0]}")/go-install.sh" alertmanager github.com/prometheus/alertmanager/cmd/alertmanager v0.28.1
