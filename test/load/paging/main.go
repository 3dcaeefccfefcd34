// Command paging is the load harness of issue 4: how fast the first page of a new
// incident reaches an HTTP receiver, and whether thousands of open incidents
// escalating on a real kube-apiserver are paged on time, never early, once each.
//
// It starts kube-apiserver and etcd (internal/testenv), an HTTP sink every tenant's
// webhook channel posts to, and the controller as a child process (this binary with
// the first argument "controller"), so the controller's memory and CPU are its own.
// It prints a report and exits non-zero when a page came early, twice or never.
//
//	go run ./test/load/paging                     # both phases, full size
//	go run ./test/load/paging -duration 10s -incidents 1000 -measure 20s -first-delay 10s
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/klaxon-ops/klaxon/test/load/internal/measure"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == controllerRole {
		if err := runController(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "controller:", err)
			os.Exit(1)
		}
		return
	}
	os.Exit(run(os.Args[1:]))
}

// run runs the phases the flags ask for and returns the exit code: 0 when every
// correctness invariant held (targets missed are reported, not failed: the machine
// is shared and its figures are noisy), 1 when one broke, 2 when the harness failed.
func run(args []string) int {
	o, err := parseOptions(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "paging:", err)
		return 2
	}
	// The harness's own client and watch log nothing worth reading; the controller
	// child logs to its file in -out.
	ctrllog.SetLogger(logr.Discard())
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	h, err := startHarness(o)
	if h != nil {
		defer h.stop()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "paging: starting the harness:", err)
		return 2
	}
	printHeader(os.Stdout, o)

	var broken []string
	if o.firstPage {
		for i, s := range o.settings {
			r, err := h.firstPage(ctx, i, s)
			if err != nil {
				fmt.Fprintf(os.Stderr, "paging: first-page phase at %s: %v\n", s, err)
				return 2
			}
			printFirstPage(os.Stdout, r)
			broken = append(broken, r.broken()...)
		}
	}
	if o.escalation {
		r, err := h.escalate(ctx)
		if err != nil {
			fmt.Fprintln(os.Stderr, "paging: escalation phase:", err)
			return 2
		}
		printEscalation(os.Stdout, r)
		broken = append(broken, r.broken()...)
	}
	fmt.Printf("\nlogs and kubeconfig: %s\n", o.out)
	return measure.Verdict(broken, "OK: no page early, none twice, none lost.")
}
