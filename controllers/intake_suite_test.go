package controllers

import (
	"net/http"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/klaxon-ops/klaxon/internal/server"
)

// intakeHandler routes to the suite's intake endpoints (RegisterIntake), for tests
// that ping heartbeats and send alerts as a monitoring tool would.
var intakeHandler http.Handler

// mustSetupIntake serves intake's endpoints from the suite's manager, as cmd/klaxon
// does on its HTTP server: with a client of its own, reading the manager's cache.
func mustSetupIntake(mgr ctrl.Manager) {
	opts := suiteOptions()
	opts.IntakeQPS, opts.IntakeBurst = 100, 200
	srv := server.New("", func() error { return nil })
	if _, err := RegisterIntake(mgr, srv, opts); err != nil {
		panic(err)
	}
	intakeHandler = srv.Handler()
}
