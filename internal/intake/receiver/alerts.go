package receiver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
	"github.com/klaxon-ops/klaxon/internal/intake"
	"github.com/klaxon-ops/klaxon/internal/maintenance"
)

// defaultMaxBodyBytes is the CRD's default of spec.maxBodyBytes, for sources built in
// code.
const defaultMaxBodyBytes = 1 << 20

// requestTimeout bounds the writes of one request. They run on a context detached
// from the request's, so a sender that hangs up mid-request does not cut a write in
// half: what was decided is stored, and its retry finds it.
const requestTimeout = 30 * time.Second

// serveAlerts is POST /api/v1/alerts/{namespace}/{alertsource}.
func (r *Receiver) serveAlerts(w http.ResponseWriter, req *http.Request) {
	ns, name := req.PathValue("namespace"), req.PathValue("alertsource")
	log := r.log.WithValues("namespace", ns, "alertsource", name)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctrl.LoggerInto(req.Context(), log)), requestTimeout)
	defer cancel()
	resp, p := r.receiveAlerts(ctx, w, req, types.NamespacedName{Namespace: ns, Name: name})
	if p != nil {
		requestsTotal.WithLabelValues("alerts", strconv.Itoa(p.status)).Inc()
		writeProblem(w, p)
		return
	}
	requestsTotal.WithLabelValues("alerts", "200").Inc()
	writeJSON(w, http.StatusOK, resp)
}

// receiveAlerts does the work of an alert request; the order of its checks decides
// which error a request with several problems gets, and keeps an unauthenticated
// sender from learning more than that the source exists.
func (r *Receiver) receiveAlerts(ctx context.Context, w http.ResponseWriter, req *http.Request, key types.NamespacedName) (*AlertsResponse, *problem) {
	log := ctrl.LoggerFrom(ctx)
	now := r.now()
	if err := r.Ready(); err != nil {
		return nil, &problem{status: http.StatusServiceUnavailable, message: err.Error(), retryAfter: retryAfterUnavailable}
	}
	var src klaxonv1.AlertSource
	if err := r.c.Get(ctx, key, &src); err != nil {
		if apierrors.IsNotFound(err) {
			r.limits.forget(key)
			return nil, &problem{status: http.StatusNotFound, message: fmt.Sprintf("no alert source %s in namespace %s", key.Name, key.Namespace)}
		}
		return nil, unavailable("the alert source", err)
	}
	alertmanager := src.Spec.Format == klaxonv1.FormatAlertmanager

	body, p := readBody(w, req, src.Spec.MaxBodyBytes)
	if p != nil {
		return nil, p
	}
	if p := r.authenticate(ctx, key.Namespace, src.Spec.Auth, req.Header, body, now); p != nil {
		return nil, p
	}
	if ok, wait := r.limits.allow(&src, now); !ok {
		// Alertmanager retries only 5xx; a 429 would drop its alerts.
		status := http.StatusTooManyRequests
		if alertmanager {
			status = http.StatusServiceUnavailable
		}
		return nil, &problem{status: status, retryAfter: wait,
			message: fmt.Sprintf("alert source %s is over its rate limit of %d requests a minute", key.Name, src.Spec.RateLimit.PerMinute)}
	}

	alerts, err := intake.Parse(src.Spec, req.Header.Get("Content-Type"), req.Header, body, now)
	if err != nil {
		var bad *intake.RequestError
		if errors.As(err, &bad) {
			return nil, &problem{status: bad.Status, message: bad.Message, field: bad.Field}
		}
		log.Info("alert source cannot parse alerts", "error", err.Error())
		return nil, &problem{status: http.StatusServiceUnavailable, retryAfter: retryAfterMisconfigured,
			message: "the alert source is misconfigured (see its Ready condition): " + err.Error()}
	}

	resp := &AlertsResponse{Accepted: len(alerts), Incidents: []string{}}
	groups, counted, err := r.applyWindows(ctx, &src, alerts, now, resp)
	if err != nil {
		return nil, unavailable("the maintenance windows", err)
	}
	outcomes, err := r.store.ingest(ctx, &src, groups, now)
	if err != nil {
		log.Error(err, "storing alerts")
		if r.recorder != nil && (apierrors.IsInvalid(err) || apierrors.IsForbidden(err)) {
			r.recorder.Eventf(&src, nil, corev1.EventTypeWarning, "IncidentRefused", "Intake", "%s", err.Error())
		}
		return nil, unavailable("an incident", err)
	}

	// Everything durable is stored: count, and answer.
	for i, o := range outcomes {
		g := &groups[i]
		if o.ignored {
			resp.Ignored += len(g.alerts)
			continue
		}
		name := o.incident.Name
		if !slices.Contains(resp.Incidents, name) {
			resp.Incidents = append(resp.Incidents, name)
		}
		fingerprints := make([]string, 0, len(g.alerts))
		for _, a := range g.alerts {
			fingerprints = append(fingerprints, a.Fingerprint)
		}
		r.coalescer.addAlerts(o.incident, len(g.alerts), fingerprints, now)
		for _, t := range []struct {
			happened bool
			list     *[]string
			name     string
		}{{o.opened, &resp.Opened, "opened"}, {o.reopened, &resp.Reopened, "reopened"}, {o.resolved, &resp.Resolved, "resolved"}} {
			if t.happened {
				*t.list = append(*t.list, name)
				transitionsTotal.WithLabelValues(key.Namespace, key.Name, t.name).Inc()
			}
		}
	}
	for window, c := range counted {
		r.coalescer.addWindow(window, c.suppressed, c.downgraded, now)
		if c.suppressed > 0 {
			maintenanceAlertsTotal.WithLabelValues(window.Namespace, window.Name, string(klaxonv1.MaintenanceSuppress)).Add(float64(c.suppressed))
		}
		if c.downgraded > 0 {
			maintenanceAlertsTotal.WithLabelValues(window.Namespace, window.Name, string(klaxonv1.MaintenanceDowngrade)).Add(float64(c.downgraded))
		}
	}
	for _, a := range alerts {
		alertsTotal.WithLabelValues(key.Namespace, key.Name, string(a.Status)).Inc()
	}
	r.coalescer.received(key, now)
	if len(resp.Opened)+len(resp.Reopened)+len(resp.Resolved) > 0 {
		log.V(1).Info("alerts changed incidents", "opened", resp.Opened, "reopened", resp.Reopened, "resolved", resp.Resolved)
	}
	return resp, nil
}

// readBody reads at most limit bytes (the source's maxBodyBytes) and refuses more;
// MaxBytesReader also tells the server to close the connection after the answer.
func readBody(w http.ResponseWriter, req *http.Request, limit int64) ([]byte, *problem) {
	if limit <= 0 {
		limit = defaultMaxBodyBytes
	}
	tooLarge := &problem{status: http.StatusRequestEntityTooLarge,
		message: fmt.Sprintf("the body is larger than the alert source's maxBodyBytes (%d)", limit)}
	if req.ContentLength > limit {
		return nil, tooLarge
	}
	body, err := readAll(http.MaxBytesReader(w, req.Body, limit), req.ContentLength)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, tooLarge
		}
		return nil, &problem{status: http.StatusBadRequest, message: "reading the body: " + err.Error()}
	}
	return body, nil
}

// readAll reads r to its end into a buffer sized for a declared length: io.ReadAll
// grows from 512 bytes, copying a batch of alerts several times over.
func readAll(r io.Reader, declared int64) ([]byte, error) {
	var buf bytes.Buffer
	if declared > 0 {
		buf.Grow(int(declared) + bytes.MinRead) // ReadFrom wants MinRead free to read the end
	}
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// authenticate checks a request against the endpoint's Secret. A failure against a
// Secret read a while ago is checked again against a fresh read, so a credential
// rotated a moment ago works at once.
func (r *Receiver) authenticate(ctx context.Context, namespace string, auth klaxonv1.EndpointAuth, header http.Header, body []byte, now time.Time) *problem {
	log := ctrl.LoggerFrom(ctx)
	key := types.NamespacedName{Namespace: namespace, Name: auth.SecretRef.Name}
	data, fresh, err := r.secrets.get(ctx, key)
	if err != nil {
		return secretProblem(err)
	}
	err = intake.Authenticate(auth, data, header, body, now)
	var authErr *intake.AuthError
	if !fresh && (errors.As(err, &authErr) || errors.Is(err, intake.ErrSecretIncomplete)) {
		reread, changed, rerr := r.secrets.refresh(ctx, key)
		if rerr != nil {
			return secretProblem(rerr)
		}
		if changed {
			err = intake.Authenticate(auth, reread, header, body, now)
		}
	}
	switch {
	case err == nil:
		return nil
	case errors.As(err, &authErr):
		// The reason is for the log only; it names which check failed, never a value.
		log.V(1).Info("request refused", "reason", authErr.Reason)
		return &problem{status: http.StatusUnauthorized, message: authErr.Error()}
	case errors.Is(err, intake.ErrSecretIncomplete):
		log.Info("endpoint secret incomplete", "error", err.Error())
		return &problem{status: http.StatusServiceUnavailable, retryAfter: retryAfterMisconfigured,
			message: "the endpoint's Secret is incomplete; nobody can authenticate until its owner fixes it"}
	}
	return &problem{status: http.StatusServiceUnavailable, retryAfter: retryAfterUnavailable, message: "authentication failed: " + err.Error()}
}

// secretProblem answers a Secret that cannot be read: missing is the owner's to fix
// (503 with a long retry, so Alertmanager keeps the alerts meanwhile), anything else
// is the API server's.
func secretProblem(err error) *problem {
	if apierrors.IsNotFound(err) {
		return &problem{status: http.StatusServiceUnavailable, retryAfter: retryAfterMisconfigured,
			message: "the endpoint's Secret does not exist; nobody can authenticate until its owner creates it"}
	}
	return unavailable("the endpoint's Secret", err)
}

// windowCount is what a request did to one maintenance window.
type windowCount struct{ suppressed, downgraded int }

// applyWindows applies the tenant's and the provider's maintenance windows to the
// firing alerts (a resolution always goes through: it can only close an incident),
// records what they did in resp, and groups what remains by group key, in the order
// the groups first appear.
func (r *Receiver) applyWindows(ctx context.Context, src *klaxonv1.AlertSource, alerts []intake.Alert, now time.Time, resp *AlertsResponse) ([]group, map[types.NamespacedName]windowCount, error) {
	ws, err := r.windows.forNamespace(ctx, src.Namespace)
	if err != nil {
		return nil, nil, err
	}
	counted := map[types.NamespacedName]windowCount{}
	var groups []group
	byKey := map[string]int{}
	for _, a := range alerts {
		var d downgrade
		if a.Status == intake.StatusFiring && len(ws) > 0 {
			action, window, to := maintenance.Apply(ws, maintenance.Alert{Labels: a.Labels, Service: a.Service,
				AlertSource: src.Name, Severity: a.SuggestedSeverity}, now)
			wkey := windowKey(window)
			switch action {
			case klaxonv1.MaintenanceSuppress:
				c := counted[wkey]
				c.suppressed++
				counted[wkey] = c
				resp.Suppressed++
				if !slices.Contains(resp.SuppressedBy, window) {
					resp.SuppressedBy = append(resp.SuppressedBy, window)
				}
				continue
			case klaxonv1.MaintenanceDowngrade:
				c := counted[wkey]
				c.downgraded++
				counted[wkey] = c
				resp.Downgraded++
				d = downgrade{to: to, window: window}
			}
		}
		i, ok := byKey[a.GroupKey]
		if !ok {
			i = len(groups)
			byKey[a.GroupKey] = i
			groups = append(groups, group{key: a.GroupKey})
		}
		groups[i].alerts = append(groups[i].alerts, a)
		groups[i].downgrades = append(groups[i].downgrades, d)
	}
	return groups, counted, nil
}

// windowKey splits a window's "namespace/name".
func windowKey(window string) types.NamespacedName {
	for i := range len(window) {
		if window[i] == '/' {
			return types.NamespacedName{Namespace: window[:i], Name: window[i+1:]}
		}
	}
	return types.NamespacedName{Name: window}
}
