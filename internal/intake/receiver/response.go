package receiver

import (
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Retry-After of the 503s that are not a rate limit: the API server or the source's
// configuration, which take a while to come back.
const (
	retryAfterUnavailable   = 5 * time.Second
	retryAfterMisconfigured = 60 * time.Second
)

// AlertsResponse is the body of a 2xx answer to an alert request.
type AlertsResponse struct {
	// Accepted counts the alerts in the request; each is in one of the counts below
	// or went to an incident.
	Accepted int `json:"accepted"`
	// Incidents the request's alerts went to (opened, attached to, resolved).
	Incidents []string `json:"incidents"`
	// Opened, Reopened and Resolved name the incidents whose state the request changed.
	Opened   []string `json:"opened,omitempty"`
	Reopened []string `json:"reopened,omitempty"`
	Resolved []string `json:"resolved,omitempty"`
	// Suppressed counts firing alerts a maintenance window kept from opening an
	// incident; SuppressedBy names the windows ("namespace/name").
	Suppressed   int      `json:"suppressed,omitempty"`
	SuppressedBy []string `json:"suppressedBy,omitempty"`
	// Downgraded counts alerts a maintenance window downgraded.
	Downgraded int `json:"downgraded,omitempty"`
	// Ignored counts resolved alerts of groups with no incident to resolve.
	Ignored int `json:"ignored,omitempty"`
}

// HeartbeatResponse is the body of a 2xx answer to a ping.
type HeartbeatResponse struct {
	Heartbeat  string    `json:"heartbeat"`
	State      string    `json:"state"`
	DeadlineAt time.Time `json:"deadlineAt"`
	// Resolved names the incident of a missed ping the ping resolved.
	Resolved string `json:"resolved,omitempty"`
}

// ErrorResponse is the body of every error answer. It never holds a credential.
type ErrorResponse struct {
	Error string `json:"error"`
	// Field is where in the payload the problem is, for a 400.
	Field string `json:"field,omitempty"`
}

// problem is an answer other than 2xx.
type problem struct {
	status     int
	message    string
	field      string
	retryAfter time.Duration
}

func (p *problem) Error() string { return p.message }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeProblem(w http.ResponseWriter, p *problem) {
	if p.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(p.retryAfter.Seconds()))))
	}
	writeJSON(w, p.status, ErrorResponse{Error: p.message, Field: p.field})
}

// unavailable answers a failure to reach or use the API server: 503 and a retry,
// except when the API server refused the write on its merits (an admission policy,
// validation), which a retry would not change.
func unavailable(what string, err error) *problem {
	if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsBadRequest(err) {
		var status apierrors.APIStatus
		msg := "the API server refused " + what
		if errors.As(err, &status) {
			msg += ": " + status.Status().Message
		}
		return &problem{status: http.StatusInternalServerError, message: msg}
	}
	return &problem{status: http.StatusServiceUnavailable, message: "the API server is unavailable; " + what + " was not stored",
		retryAfter: retryAfterUnavailable}
}
