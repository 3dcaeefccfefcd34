package receiver

import (
	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Intake's metrics, on the manager's metrics endpoint. Labels are bounded by the
// objects in the cluster (namespaces, sources, windows), never by alert content.
var (
	requestsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "klaxon_intake_requests_total",
		Help: "Requests to the intake endpoints, by endpoint (alerts, heartbeats) and HTTP status code.",
	}, []string{"endpoint", "code"})

	alertsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "klaxon_intake_alerts_total",
		Help: "Alerts accepted, by namespace, alert source and status (firing, resolved).",
	}, []string{"namespace", "alertsource", "status"})

	transitionsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "klaxon_intake_incident_transitions_total",
		Help: "Incidents intake opened, reopened (flapping) and resolved, by namespace and alert source.",
	}, []string{"namespace", "alertsource", "transition"})

	maintenanceAlertsTotal = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "klaxon_maintenance_alerts_total",
		Help: "Alerts a maintenance window suppressed or downgraded, by the window's namespace and name and the action.",
	}, []string{"namespace", "window", "action"})

	incidentWrites = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "klaxon_intake_incident_writes_total",
		Help: "Writes of incidents by intake: create, update (a request's resolution, reopen or resolved alert), pending (further firing alerts, written by the flush), status (coalesced counts).",
	}, []string{"operation"})
)

func init() {
	metrics.Registry.MustRegister(requestsTotal, alertsTotal, transitionsTotal, maintenanceAlertsTotal, incidentWrites)
}
