package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

const (
	// DefaultDir is where `make run` keeps its state.
	DefaultDir = ".klaxon"

	// DefaultAPIServerPort is the API server's port on 127.0.0.1. It is fixed so the
	// kubeconfig stays valid across restarts, and is not 6443 (kubeadm, kind's
	// container side), 8443 (minikube) or 16443 (MicroK8s), so it can run next to
	// them.
	DefaultAPIServerPort = 18443

	// DefaultStartTimeout bounds Start: a cold start takes a few seconds.
	DefaultStartTimeout = 60 * time.Second

	// serviceAccountIssuer does not name the port, so tokens survive a port change.
	serviceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
)

// Options configures Start.
type Options struct {
	// Dir holds the state: etcd's data in Dir/etcd, certificates and keys in
	// Dir/pki, the admin kubeconfig at Dir/kubeconfig. Default DefaultDir.
	Dir string

	// BinaryDir holds the kube-apiserver, kube-controller-manager and etcd binaries, as built by
	// hack/setup-envtest.sh. Default: the KUBEBUILDER_ASSETS environment variable.
	BinaryDir string

	// CRDDirs hold the CustomResourceDefinitions to install on every start (e.g.
	// config/crd/bases); see Apply for how the files are read. A missing or empty
	// directory is an error, so a wrong path does not start a cluster without CRDs.
	CRDDirs []string

	// APIServerPort is the API server's port on 127.0.0.1. Default
	// DefaultAPIServerPort. etcd's ports are picked free at every start, since only
	// the API server talks to etcd.
	APIServerPort int

	// StartTimeout bounds Start. Default DefaultStartTimeout.
	StartTimeout time.Duration

	// Out receives the output of etcd and kube-apiserver, each line prefixed with the
	// binary's name; nil discards it. The last lines are in Start's errors either way.
	Out io.Writer
}

// Cluster is a running kube-apiserver, kube-controller-manager and etcd, children of
// this process.
type Cluster struct {
	kubeconfig string
	cfg        *rest.Config
	dir        string
	pki        *pki

	launcher  *launcher
	unlock    func() // releases Dir/lock
	etcd      *process
	apiserver *process
	manager   *process // kube-controller-manager
	done      chan struct{}

	stopOnce sync.Once
	stopErr  error
}

// Start starts etcd and kube-apiserver with their state in opts.Dir, waits until the
// API server is ready, writes Dir/kubeconfig for an admin user, starts
// kube-controller-manager with the controllers a cluster without nodes needs (see
// managerControllers), and installs the CRDs of opts.CRDDirs (waiting until they are
// served).
//
// The first start creates a CA, keys and certificates in Dir/pki; later starts reuse
// them and the data in Dir/etcd, so objects, the kubeconfig, and tokens issued before
// stay valid across restarts on the same port. The kubeconfig is written on every
// start anyway: its admin certificate is renewed a month before it expires (after a
// year).
//
// Start holds a lock on Dir/lock until Stop, so a second control plane on the same
// directory fails at once instead of waiting on etcd's database; the kernel drops the
// lock with its holder, so a killed run leaves nothing stale. It fails at once too
// when the API server's port is taken.
//
// ctx bounds only the start; the processes run until Stop, or until this process
// exits (on Linux the kernel then stops them; elsewhere they share the terminal's
// process group, so Ctrl-C stops them too).
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeoutCause(ctx, opts.StartTimeout,
		fmt.Errorf("local control plane did not start within %s", opts.StartTimeout))
	defer cancel()

	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	etcdDir := filepath.Join(opts.Dir, "etcd")
	if err := os.MkdirAll(etcdDir, 0o700); err != nil { // etcd wants its data private
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	// Lock first: two starts must not create two CAs in the same directory.
	unlock, err := lockDir(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("start local control plane: %w", err)
	}
	c := &Cluster{
		kubeconfig: filepath.Join(opts.Dir, "kubeconfig"),
		dir:        opts.Dir,
		launcher:   newLauncher(),
		unlock:     unlock,
		done:       make(chan struct{}),
	}
	fail := func(err error) (*Cluster, error) {
		_ = c.Stop() // the start error says what went wrong
		return nil, fmt.Errorf("start local control plane: %w", err)
	}

	certs, err := ensurePKI(filepath.Join(opts.Dir, "pki"), time.Now())
	if err != nil {
		return fail(fmt.Errorf("prepare certificates: %w", err))
	}
	c.pki = certs
	if err := checkPortFree(opts.APIServerPort); err != nil {
		return fail(err)
	}
	etcdPorts, err := freePorts(2)
	if err != nil {
		return fail(err)
	}
	server := "https://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.APIServerPort))
	c.cfg = &rest.Config{
		Host: server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   certs.caPEM,
			CertData: certs.adminCrt,
			KeyData:  certs.adminKey,
		},
	}
	var out *syncWriter
	if opts.Out != nil {
		out = &syncWriter{w: opts.Out}
	}

	etcdURL := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(etcdPorts[0]))
	c.etcd, err = startProcess(c.launcher, "etcd", filepath.Join(opts.BinaryDir, "etcd"), []string{
		"--data-dir=" + etcdDir,
		"--listen-client-urls=" + etcdURL,
		"--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(etcdPorts[1])),
		"--log-level=warn",
	}, out)
	if err != nil {
		return fail(err)
	}
	if err := c.etcd.waitUntil(ctx, httpOK(http.DefaultClient, etcdURL+"/health")); err != nil {
		return fail(err)
	}

	c.apiserver, err = startProcess(c.launcher, "kube-apiserver", filepath.Join(opts.BinaryDir, "kube-apiserver"), []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(opts.APIServerPort),
		"--cert-dir=" + filepath.Dir(certs.files.caCert),
		"--tls-cert-file=" + certs.files.servingCrt,
		"--tls-private-key-file=" + certs.files.servingKey,
		"--client-ca-file=" + certs.files.caCert,
		"--authorization-mode=RBAC",
		"--service-account-issuer=" + serviceAccountIssuer,
		"--service-account-key-file=" + certs.files.saPub,
		"--service-account-signing-key-file=" + certs.files.saKey,
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		// The controller manager does not run the serviceaccount controller, so
		// nothing creates the default ServiceAccount that this admission plugin would
		// require of every Pod.
		"--disable-admission-plugins=ServiceAccount",
		// Nothing reaches the API server through the kubernetes Service, and its
		// endpoints may not be a loopback address.
		"--endpoint-reconciler-type=none",
	}, out)
	if err != nil {
		return fail(err)
	}
	httpClient, err := rest.HTTPClientFor(c.cfg)
	if err != nil {
		return fail(fmt.Errorf("create client: %w", err))
	}
	// readyz turns 200 once the post-start hooks (RBAC bootstrap, CRD informers...)
	// are done; the default namespace is created shortly after.
	if err := c.apiserver.waitUntil(ctx, httpOK(httpClient, server+"/readyz")); err != nil {
		return fail(err)
	}
	if err := c.apiserver.waitUntil(ctx, httpOK(httpClient, server+"/api/v1/namespaces/default")); err != nil {
		return fail(err)
	}

	if err := writeKubeconfig(c.kubeconfig, server, certs); err != nil {
		return fail(err)
	}
	c.manager, err = startProcess(c.launcher, "kube-controller-manager", filepath.Join(opts.BinaryDir, "kube-controller-manager"), []string{
		"--kubeconfig=" + c.kubeconfig,
		"--controllers=" + strings.Join(managerControllers, ","),
		// One control plane, one manager: nothing to elect.
		"--leader-elect=false",
		// Nothing scrapes it; a port of its own would only collide.
		"--secure-port=0",
		"--kube-api-qps=50",
		"--kube-api-burst=100",
	}, out)
	if err != nil {
		return fail(err)
	}
	if err := installCRDs(ctx, c.cfg, opts.CRDDirs); err != nil {
		return fail(err)
	}

	go func() {
		select {
		case <-c.etcd.done:
		case <-c.apiserver.done:
		case <-c.manager.done:
		}
		close(c.done)
	}()
	return c, nil
}

// managerControllers are the kube-controller-manager controllers a local control plane
// runs: what users rely on without thinking of it. The garbage collector deletes what
// an object owns with it (an Incident's IncidentDecisions and IncidentTimelines), and
// the namespace controller empties and removes a deleted namespace, which otherwise
// stays Terminating. There are no nodes, so nothing else has work to do.
var managerControllers = []string{"garbage-collector-controller", "namespace-controller"}

// withDefaults fills in defaults and checks what Start cannot do without.
func (o Options) withDefaults() (Options, error) {
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return o, fmt.Errorf("state directory: %w", err)
	}
	o.Dir = dir
	if o.BinaryDir == "" {
		o.BinaryDir = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if o.BinaryDir == "" {
		return o, errors.New("no directory with kube-apiserver, kube-controller-manager and etcd: set KUBEBUILDER_ASSETS (run hack/setup-envtest.sh, it prints the directory)")
	}
	for _, bin := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		if info, err := os.Stat(filepath.Join(o.BinaryDir, bin)); err != nil || info.IsDir() || info.Mode()&0o111 == 0 {
			return o, fmt.Errorf("no %s binary in %s: run hack/setup-envtest.sh", bin, o.BinaryDir)
		}
	}
	if o.APIServerPort == 0 {
		o.APIServerPort = DefaultAPIServerPort
	}
	if o.APIServerPort < 0 || o.APIServerPort > 65535 {
		return o, fmt.Errorf("API server port %d out of range", o.APIServerPort)
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = DefaultStartTimeout
	}
	return o, nil
}

// Config returns a copy of the admin rest.Config, for the controller manager and
// other clients in this process.
func (c *Cluster) Config() *rest.Config {
	return rest.CopyConfig(c.cfg)
}

// KubeconfigPath returns the absolute path of the admin kubeconfig (Dir/kubeconfig),
// for kubectl and for printing.
func (c *Cluster) KubeconfigPath() string {
	return c.kubeconfig
}

// Done is closed when etcd, kube-apiserver or kube-controller-manager has exited, after Stop or because it
// failed, so a caller can shut down instead of talking to a dead API server. Stop
// returns the cause.
func (c *Cluster) Done() <-chan struct{} {
	return c.done
}

// Stop stops kube-controller-manager, kube-apiserver, then etcd (SIGTERM, then SIGKILL
// after 20 seconds), and keeps the state directory for the next Start. It returns an
// error if any had already exited on its own. Stop is idempotent; later calls return the first
// result.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		// Its clients first, then the API server: it may still be writing to etcd.
		var errs []error
		for _, p := range []*process{c.manager, c.apiserver, c.etcd} {
			if p != nil {
				errs = append(errs, p.stop())
			}
		}
		c.launcher.close()
		c.unlock()
		c.stopErr = errors.Join(errs...)
	})
	return c.stopErr
}

// installCRDs applies the CRDs of dirs and waits until they are served.
func installCRDs(ctx context.Context, cfg *rest.Config, dirs []string) error {
	var crds []manifest
	for _, dir := range dirs {
		objs, err := readManifestDir(dir)
		if err != nil {
			return fmt.Errorf("install CRDs: %w", err)
		}
		if len(objs) == 0 {
			return fmt.Errorf("install CRDs: no manifests in %s", dir)
		}
		for _, m := range objs {
			if applyPhase(m) != 1 {
				return fmt.Errorf("install CRDs: %s: %s %s is not a CustomResourceDefinition", m.source, m.obj.GetKind(), m.obj.GetName())
			}
		}
		crds = append(crds, objs...)
	}
	if len(crds) == 0 {
		return nil
	}
	a, err := newApplier(cfg)
	if err != nil {
		return fmt.Errorf("install CRDs: %w", err)
	}
	if _, err := a.apply(ctx, crds); err != nil {
		return fmt.Errorf("install CRDs: %w", err)
	}
	return nil
}

// httpOK returns a check that GETs url and succeeds on 200.
func httpOK(client *http.Client, url string) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// freePorts returns n distinct free ports on 127.0.0.1, holding them all until it
// returns so the kernel cannot hand out the same one twice.
func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
