package localcluster

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

func TestMain(m *testing.M) {
	// The controller-runtime client logs through this; the tests have nothing to say.
	ctrllog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
