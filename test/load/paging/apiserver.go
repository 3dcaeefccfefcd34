package main

import (
	"fmt"
	"os"

	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// apiserverMetrics scrapes kube-apiserver's /metrics; an empty set when it cannot.
func (h *harness) apiserverMetrics() measure.Metrics {
	m, err := measure.ScrapeAPIServer(h.cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "paging: scraping kube-apiserver's metrics:", err)
	}
	return m
}
