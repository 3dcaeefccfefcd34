package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// apiserverMetrics scrapes kube-apiserver's /metrics (the harness's user is an
// administrator). It tells which writes a page costs, by resource, whoever made them.
func (h *harness) apiserverMetrics() measure.Metrics {
	m, err := h.scrapeAPIServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, "paging: scraping kube-apiserver's metrics:", err)
	}
	return m
}

func (h *harness) scrapeAPIServer() (measure.Metrics, error) {
	hc, err := rest.HTTPClientFor(h.cfg)
	if err != nil {
		return measure.Metrics{}, err
	}
	resp, err := hc.Get(strings.TrimSuffix(h.cfg.Host, "/") + "/metrics")
	if err != nil {
		return measure.Metrics{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return measure.Metrics{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return measure.Metrics{}, fmt.Errorf("%s: %.200s", resp.Status, b)
	}
	return measure.ParseMetrics(string(b)), nil
}

// writesByResource sums apiserver_request_total's writes by verb and resource
// ("POST incidentdecisions", "PATCH incidents/status"), largest first.
func writesByResource(m measure.Metrics) []resourceCount {
	sums := map[string]float64{}
	for k, v := range m {
		name, lbl, _ := strings.Cut(k, "{")
		if name != "apiserver_request_total" {
			continue
		}
		l := labelsOf(strings.TrimSuffix(lbl, "}"))
		switch l["verb"] {
		case "POST", "PUT", "PATCH", "DELETE":
		default:
			continue
		}
		res := l["resource"]
		if l["subresource"] != "" {
			res += "/" + l["subresource"]
		}
		sums[l["verb"]+" "+res] += v
	}
	var out []resourceCount
	for k, v := range sums {
		if v > 0 {
			out = append(out, resourceCount{what: k, n: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].n > out[j].n || out[i].n == out[j].n && out[i].what < out[j].what })
	return out
}

// resourceCount is how many requests of one verb on one resource were made.
type resourceCount struct {
	what string
	n    float64
}

// labelsOf parses `k="v",k2="v2"`; label values in these series hold no quotes.
func labelsOf(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if ok {
			out[k] = strings.Trim(v, `"`)
		}
	}
	return out
}

// perIncident formats counts per incident, "POST incidentdecisions 3.0, ...".
func perIncident(rc []resourceCount, incidents int) string {
	if incidents == 0 || len(rc) == 0 {
		return "n/a"
	}
	var parts []string
	for _, c := range rc {
		parts = append(parts, fmt.Sprintf("%s %.2f", c.what, c.n/float64(incidents)))
	}
	return strings.Join(parts, ", ")
}
