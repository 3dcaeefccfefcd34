package measure

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	"k8s.io/client-go/rest"
)

// ScrapeAPIServer reads kube-apiserver's /metrics as cfg's user (an administrator in
// the harnesses). It tells which writes a page or an alert costs, by resource,
// whoever made them.
func ScrapeAPIServer(cfg *rest.Config) (Metrics, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return Metrics{}, err
	}
	resp, err := hc.Get(strings.TrimSuffix(cfg.Host, "/") + "/metrics")
	if err != nil {
		return Metrics{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return Metrics{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return Metrics{}, fmt.Errorf("%s: %.200s", resp.Status, b)
	}
	return ParseMetrics(string(b)), nil
}

// WritesByResource sums apiserver_request_total's writes by verb and resource
// ("POST incidentdecisions", "PATCH incidents/status"), largest first.
func WritesByResource(m Metrics) []ResourceCount {
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
	var out []ResourceCount
	for k, v := range sums {
		if v > 0 {
			out = append(out, ResourceCount{What: k, N: v})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].N > out[j].N || out[i].N == out[j].N && out[i].What < out[j].What })
	return out
}

// ResourceCount is how many requests of one verb on one resource were made.
type ResourceCount struct {
	What string
	N    float64
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

// PerIncident formats counts per incident, "POST incidentdecisions 3.0, ...".
func PerIncident(rc []ResourceCount, incidents int) string {
	if incidents == 0 || len(rc) == 0 {
		return "n/a"
	}
	var parts []string
	for _, c := range rc {
		parts = append(parts, fmt.Sprintf("%s %.2f", c.What, c.N/float64(incidents)))
	}
	return strings.Join(parts, ", ")
}
