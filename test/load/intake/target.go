package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

// target is where a stream goes: Klaxon's intake endpoint, or Alertmanager's API.
type target struct {
	peer   peer
	url    string
	header http.Header
	body   func(s *stream, batch int) ([]byte, error)
	pid    int // the process that receives, for its CPU and memory
	rss    *measure.RSS
	client *http.Client
}

func newClient(conns int) *http.Client {
	return &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, IdleConnTimeout: time.Minute}}
}

// klaxonTarget posts to the AlertSource's endpoint with its bearer token.
func (h *harness) klaxonTarget(c *controllerProc) *target {
	hdr := http.Header{}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Authorization", "Bearer "+h.token)
	return &target{peer: klaxon, url: c.intakeURL + "/api/v1/alerts/" + tenantNS + "/" + sourceName, header: hdr,
		body: (*stream).klaxonBody, pid: c.Pid(), rss: &c.RSS, client: newClient(h.opts.senders)}
}

// post sends one body. A 5xx or 429 is retried after its Retry-After (at most a
// second), as Alertmanager retries its webhooks: the stream's alerts are never
// dropped. It returns how many retries it took and the final error.
func (t *target) post(ctx context.Context, body []byte) (retries int, err error) {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.url, bytes.NewReader(body))
		if err != nil {
			return retries, err
		}
		req.Header = t.header.Clone()
		resp, err := t.client.Do(req)
		if err != nil {
			return retries, fmt.Errorf("posting to %s: %w", t.peer, err)
		}
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		switch {
		case resp.StatusCode/100 == 2:
			return retries, nil
		case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
			if retries >= 100 {
				return retries, fmt.Errorf("%s answered %s 100 times: %s", t.peer, resp.Status, msg)
			}
			retries++
			wait := 10 * time.Millisecond
			if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
				wait = min(time.Duration(s)*time.Second, time.Second)
			}
			select {
			case <-ctx.Done():
				return retries, ctx.Err()
			case <-time.After(wait):
			}
		default:
			return retries, fmt.Errorf("%s answered %s: %s", t.peer, resp.Status, msg)
		}
	}
}
