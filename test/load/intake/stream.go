package main

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"sort"
	"time"
)

// alert is one alert of a stream, as Prometheus would fire it.
type alert struct {
	labels      map[string]string
	annotations map[string]string // summary: unique per alert, the harness's id for it
	startsAt    time.Time
}

// stream is a sequence of alerts cut into batches; the same stream goes to Klaxon
// and to Alertmanager.
type stream struct {
	alerts  []alert  // distinct alerts, in the order they first appear
	batches [][]int  // each batch's alerts, by index into alerts; repeats included
	groups  []string // the alert groups (alertnames) the stream opens, in order
	sent    int      // alerts in the batches, repeats included
}

// newStream builds n alerts in batches of size batch: a fraction dup of them repeat
// an alert already sent (chosen at random, seeded, so every run sends the same
// stream); the rest are new, spread evenly through the stream and over groups
// alert groups (alertname prefix-NNNNN): the first new alert of each group opens it,
// later ones are further instances of it.
func newStream(prefix string, n, batch int, dup float64, groups int, startsAt time.Time) *stream {
	s := &stream{}
	newCount := max(1, int(float64(n)*(1-dup)))
	perGroup := make([]int, groups)
	rng := rand.New(rand.NewPCG(1, 2))
	var cur []int
	for i := range n {
		isNew := int(float64(i+1)*(1-dup)) > int(float64(i)*(1-dup)) || len(s.alerts) == 0
		if isNew && len(s.alerts) < newCount {
			j := len(s.alerts)
			g := j * groups / newCount
			k := perGroup[g]
			perGroup[g]++
			name := fmt.Sprintf("%s-%05d", prefix, g)
			summary := fmt.Sprintf("%s-%03d", name, k)
			s.alerts = append(s.alerts, alert{startsAt: startsAt,
				labels: map[string]string{"alertname": name, "instance": fmt.Sprintf("host-%03d", k),
					"severity": "critical", "service": "checkout", "job": "checkout"},
				annotations: map[string]string{"summary": summary, "description": "checkout error rate above 5% on " + fmt.Sprintf("host-%03d", k)}})
			if k == 0 {
				s.groups = append(s.groups, name)
			}
			cur = append(cur, j)
		} else {
			cur = append(cur, rng.IntN(len(s.alerts)))
		}
		s.sent++
		if len(cur) == batch {
			s.batches = append(s.batches, cur)
			cur = nil
		}
	}
	if len(cur) > 0 {
		s.batches = append(s.batches, cur)
	}
	return s
}

// repeats is a stream of n alerts in batches of size batch, every one a repeat of
// one of base's alerts: once every group is open, what memory and throughput look
// like when nothing new arrives.
func repeats(base *stream, n, batch int) *stream {
	s := &stream{alerts: base.alerts, sent: n}
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < n; i += batch {
		var cur []int
		for range min(batch, n-i) {
			cur = append(cur, rng.IntN(len(base.alerts)))
		}
		s.batches = append(s.batches, cur)
	}
	return s
}

// perGroup is s as Alertmanager (group_by: [alertname]) would deliver it to a
// webhook receiver: the same alerts in the same order, each batch holding alerts of
// one group only, at most batch of them. A group's batch is cut when it is full, and
// batches go out in the order of their first alert, so each group opens where it did
// in s.
func (s *stream) perGroup(batch int) *stream {
	out := &stream{alerts: s.alerts, groups: s.groups, sent: s.sent}
	filling := map[string]int{} // alertname -> its batch being filled
	for _, b := range s.batches {
		for _, i := range b {
			g := s.alerts[i].labels["alertname"]
			j, ok := filling[g]
			if !ok || len(out.batches[j]) == batch {
				out.batches = append(out.batches, nil)
				j = len(out.batches) - 1
				filling[g] = j
			}
			out.batches[j] = append(out.batches[j], i)
		}
	}
	return out
}

// single is a stream of one-alert batches, each opening its own group: the first-page
// phase's new alerts.
func single(prefix string, n int, startsAt time.Time) *stream {
	return newStream(prefix, n, 1, 0, n, startsAt)
}

// fingerprint is Alertmanager's: FNV-64a over the sorted label names and values.
func fingerprint(labels map[string]string) string {
	names := make([]string, 0, len(labels))
	for k := range labels {
		names = append(names, k)
	}
	sort.Strings(names)
	h := fnv.New64a()
	for _, k := range names {
		_, _ = h.Write([]byte(k))
		_, _ = h.Write([]byte{0xff})
		_, _ = h.Write([]byte(labels[k]))
		_, _ = h.Write([]byte{0xff})
	}
	return fmt.Sprintf("%016x", h.Sum64())
}

// klaxonBody is batch b as Alertmanager's webhook delivers it (payload version 4):
// what Klaxon's Alertmanager-format AlertSource receives.
func (s *stream) klaxonBody(b int) ([]byte, error) {
	type amAlert struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	}
	msg := struct {
		Version           string            `json:"version"`
		GroupKey          string            `json:"groupKey"`
		TruncatedAlerts   int               `json:"truncatedAlerts"`
		Status            string            `json:"status"`
		Receiver          string            `json:"receiver"`
		GroupLabels       map[string]string `json:"groupLabels"`
		CommonLabels      map[string]string `json:"commonLabels"`
		CommonAnnotations map[string]string `json:"commonAnnotations"`
		ExternalURL       string            `json:"externalURL"`
		Alerts            []amAlert         `json:"alerts"`
	}{Version: "4", GroupKey: fmt.Sprintf("{}:{batch=%q}", fmt.Sprint(b)), Status: "firing", Receiver: "klaxon",
		GroupLabels: map[string]string{}, CommonLabels: map[string]string{"service": "checkout"}, CommonAnnotations: map[string]string{},
		ExternalURL: "http://alertmanager.load.test"}
	if name, ok := s.groupOf(b); ok {
		// One group's alerts, as Alertmanager sends them.
		msg.GroupKey = fmt.Sprintf("{}:{alertname=%q}", name)
		msg.GroupLabels["alertname"] = name
		msg.CommonLabels["alertname"] = name
	}
	for _, i := range s.batches[b] {
		a := s.alerts[i]
		msg.Alerts = append(msg.Alerts, amAlert{Status: "firing", Labels: a.labels, Annotations: a.annotations,
			StartsAt: a.startsAt, GeneratorURL: "http://prometheus.load.test/graph", Fingerprint: fingerprint(a.labels)})
	}
	return json.Marshal(msg)
}

// groupOf is the alertname every alert of batch b shares, if they share one.
func (s *stream) groupOf(b int) (string, bool) {
	name := ""
	for k, i := range s.batches[b] {
		n := s.alerts[i].labels["alertname"]
		if k > 0 && n != name {
			return "", false
		}
		name = n
	}
	return name, name != ""
}

// alertmanagerBody is batch b as Prometheus posts it to Alertmanager's
// POST /api/v2/alerts.
func (s *stream) alertmanagerBody(b int) ([]byte, error) {
	type postable struct {
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		GeneratorURL string            `json:"generatorURL"`
	}
	var out []postable
	for _, i := range s.batches[b] {
		a := s.alerts[i]
		out = append(out, postable{Labels: a.labels, Annotations: a.annotations, StartsAt: a.startsAt,
			GeneratorURL: "http://prometheus.load.test/graph"})
	}
	return json.Marshal(out)
}
