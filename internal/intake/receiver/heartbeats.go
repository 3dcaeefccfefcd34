package receiver

import (
	"context"
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	klaxonv1 "github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// maxPingBytes bounds a ping's body: it carries nothing intake reads, but an HMAC
// signature covers it.
const maxPingBytes = 64 << 10

// serveHeartbeat is POST|GET /api/v1/heartbeats/{namespace}/{heartbeat}.
func (r *Receiver) serveHeartbeat(w http.ResponseWriter, req *http.Request) {
	ns, name := req.PathValue("namespace"), req.PathValue("heartbeat")
	log := r.log.WithValues("namespace", ns, "heartbeat", name)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctrl.LoggerInto(req.Context(), log)), requestTimeout)
	defer cancel()
	resp, p := r.receivePing(ctx, w, req, types.NamespacedName{Namespace: ns, Name: name})
	if p != nil {
		requestsTotal.WithLabelValues("heartbeats", strconv.Itoa(p.status)).Inc()
		writeProblem(w, p)
		return
	}
	requestsTotal.WithLabelValues("heartbeats", "200").Inc()
	writeJSON(w, http.StatusOK, resp)
}

func (r *Receiver) receivePing(ctx context.Context, w http.ResponseWriter, req *http.Request, key types.NamespacedName) (*HeartbeatResponse, *problem) {
	now := r.now()
	var hb klaxonv1.Heartbeat
	if err := r.c.Get(ctx, key, &hb); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, &problem{status: http.StatusNotFound, message: fmt.Sprintf("no heartbeat %s in namespace %s", key.Name, key.Namespace)}
		}
		return nil, unavailable("the heartbeat", err)
	}
	body, p := readBody(w, req, maxPingBytes)
	if p != nil {
		return nil, p
	}
	if p := r.authenticate(ctx, key.Namespace, hb.Spec.Auth, req.Header, body, now); p != nil {
		return nil, p
	}
	res, err := r.ping(ctx, &hb, now)
	if err != nil {
		ctrl.LoggerFrom(ctx).Error(err, "recording a ping")
		return nil, unavailable("the ping", err)
	}
	if res.resolved != "" {
		ctrl.LoggerFrom(ctx).Info("heartbeat is back; resolved its incident", "incident", res.resolved)
	}
	return &HeartbeatResponse{Heartbeat: key.Name, State: string(res.state), DeadlineAt: res.deadlineAt, Resolved: res.resolved}, nil
}
