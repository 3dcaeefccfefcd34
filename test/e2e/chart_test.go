package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/klaxon-ops/klaxon/internal/testenv"
)

// TestDeployInstallsAWorkingKlaxon installs Klaxon the way DESIGN.md's `make deploy`
// does (the Helm chart, charts/klaxon) into a real kube-apiserver that has nothing of
// Klaxon's, then runs the klaxon binary as the chart's pod would: as the chart's
// ServiceAccount (a token from the TokenRequest API, so only the chart's RBAC counts),
// with the Deployment's arguments and the chart's webhook certificate, and kube-apiserver
// calling the admission webhooks through the chart's Service. There is no kubelet here,
// so the test stands in for it: it starts the process and publishes its address as the
// Service's endpoint, which is all kube-apiserver needs to reach it.
func TestDeployInstallsAWorkingKlaxon(t *testing.T) {
	hostIP := nonLoopbackIPv4(t)
	cfg, adminKubeconfig := startControlPlane(t, func(e *envtest.Environment) {
		e.CRDDirectoryPaths, e.ErrorIfCRDPathMissing = nil, false
		// Resolve a webhook Service to its endpoints, as a cluster without kube-proxy
		// on the control plane needs; the endpoint is this process.
		e.ControlPlane.GetAPIServer().Configure().Set("enable-aggregator-routing", "true")
	})
	admin := kubernetes.NewForConfigOrDie(cfg)
	dir := t.TempDir()
	kubectl := func(args ...string) (string, error) { return runKubectl(adminKubeconfig, "", args...) }
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	httpAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	webhookPort := freePort(t)
	externalURL := "http://" + httpAddr

	// make deploy, as a user runs it against the current kubeconfig context.
	if out, err := makeTarget(ctx, adminKubeconfig, "deploy", "IMG=registry.example/klaxon:e2e", "NAMESPACE=klaxon-system",
		"HELM_FLAGS=--set externalURL="+externalURL); err != nil {
		t.Fatalf("make deploy: %v\n%s", err, out)
	}

	// What the chart installed: every CRD, served.
	crdFiles, _ := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "crd", "bases", "*.yaml"))
	if out, err := kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", "charts/klaxon/crds/"); err != nil {
		t.Fatalf("CRDs not established: %v\n%s", err, out)
	}
	if out, _ := kubectl("api-resources", "--api-group=klaxon.dev", "-o", "name"); len(strings.Fields(out)) != len(crdFiles) {
		t.Fatalf("klaxon.dev serves %d resources, want the %d of config/crd/bases:\n%s", len(strings.Fields(out)), len(crdFiles), out)
	}
	deployment, err := admin.AppsV1().Deployments("klaxon-system").Get(ctx, "klaxon", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pod := deployment.Spec.Template.Spec
	if len(pod.Containers) != 1 || pod.Containers[0].Image != "registry.example/klaxon:e2e" {
		t.Fatalf("containers %+v, want one running registry.example/klaxon:e2e", pod.Containers)
	}
	args := pod.Containers[0].Args
	for _, want := range []string{"--leader-elect", "--system-namespace=klaxon-system", "--leader-election-namespace=klaxon-system",
		"--kube-api-qps=50", "--kube-api-burst=100",
		"--intake-kube-api-qps=100", "--intake-kube-api-burst=200", "--external-url=" + externalURL} {
		if !slices.Contains(args, want) {
			t.Errorf("the manager's arguments %q lack %s", args, want)
		}
	}
	secret, err := admin.CoreV1().Secrets("klaxon-system").Get(ctx, "klaxon-webhook-cert", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	vwc, err := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "klaxon-validating", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range vwc.Webhooks {
		if string(w.ClientConfig.CABundle) != string(secret.Data["ca.crt"]) || w.ClientConfig.Service == nil || w.ClientConfig.Service.Name != "klaxon-webhook" {
			t.Errorf("webhook %s: clientConfig %+v does not name the chart's Service and CA", w.Name, w.ClientConfig.Service)
		}
	}

	// An upgrade keeps the webhook certificate: the running pods serve the one they
	// mounted, and kube-apiserver must go on trusting it.
	if out, err := makeTarget(ctx, adminKubeconfig, "deploy", "IMG=registry.example/klaxon:e2e", "NAMESPACE=klaxon-system",
		"HELM_FLAGS=--set externalURL="+externalURL+" --set logging.level=debug"); err != nil {
		t.Fatalf("make deploy (upgrade): %v\n%s", err, out)
	}
	upgraded, err := admin.CoreV1().Secrets("klaxon-system").Get(ctx, "klaxon-webhook-cert", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if string(upgraded.Data["tls.crt"]) != string(secret.Data["tls.crt"]) || string(upgraded.Data["ca.crt"]) != string(secret.Data["ca.crt"]) {
		t.Errorf("the upgrade replaced the webhook certificate")
	}
	if d, err := admin.AppsV1().Deployments("klaxon-system").Get(ctx, "klaxon", metav1.GetOptions{}); err != nil || !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--zap-log-level=debug") {
		t.Errorf("the upgrade did not change the Deployment: %v", err)
	}

	// The pod's stand-in: the webhook Service's endpoint is this machine.
	publishEndpoint(ctx, t, admin, hostIP, webhookPort)

	// The pod's identity: the chart's ServiceAccount, nothing more.
	tok, err := admin.CoreV1().ServiceAccounts("klaxon-system").CreateToken(ctx, pod.ServiceAccountName,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	saConfig := &rest.Config{Host: cfg.Host, TLSClientConfig: rest.TLSClientConfig{CAData: cfg.CAData}, BearerToken: tok.Status.Token}
	saKubeconfig := filepath.Join(dir, "serviceaccount.kubeconfig")
	if err := testenv.WriteKubeconfig(saConfig, saKubeconfig); err != nil {
		t.Fatal(err)
	}
	// Its requests go to the chart's FlowSchema and priority level: kube-apiserver's
	// Priority and Fairness names both on every response.
	fs, err := admin.FlowcontrolV1().FlowSchemas().Get(ctx, "klaxon-klaxon-system", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := admin.FlowcontrolV1().PriorityLevelConfigurations().Get(ctx, fs.Spec.PriorityLevelConfiguration.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the FlowSchema's priority level: %v", err)
	}
	saHTTP, err := rest.HTTPClientFor(saConfig)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := saHTTP.Get(cfg.Host + "/apis/klaxon.dev/v1alpha1/incidents")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("X-Kubernetes-PF-FlowSchema-UID"); got != string(fs.UID) {
		t.Errorf("Klaxon's request went to FlowSchema %s, not the chart's %s (%s)", got, fs.UID, resp.Status)
	}
	if got := resp.Header.Get("X-Kubernetes-PF-PriorityLevel-UID"); got != string(pl.UID) {
		t.Errorf("Klaxon's request went to priority level %s, not %s's %s", got, pl.Name, pl.UID)
	}

	certDir := filepath.Join(dir, "webhook-certs")
	if err := os.MkdirAll(certDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range secret.Data {
		if err := os.WriteFile(filepath.Join(certDir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	probeAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	// The chart's arguments; only the ports (shared with the other tests on this
	// machine) and the volumes' paths are this process's own.
	runArgs := overrideFlags(args, map[string]string{
		"--metrics-bind-address":      "0",
		"--health-probe-bind-address": probeAddr,
		"--http-bind-address":         httpAddr,
		"--webhook-port":              fmt.Sprint(webhookPort),
		"--webhook-cert-dir":          certDir,
		"--postmortem-cache-dir":      filepath.Join(dir, "cache"),
	})
	manager := startManager(t, "klaxon", saKubeconfig, runArgs...)
	// Leader election with the chart's Role in the release namespace.
	eventually(t, time.Minute, func() error {
		lease, err := admin.CoordinationV1().Leases("klaxon-system").Get(ctx, "klaxon.klaxon.dev", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "" {
			return fmt.Errorf("lease %s has no holder", lease.Name)
		}
		return nil
	})
	// The respond links' keys: created by Klaxon in the system namespace.
	if _, err := admin.CoreV1().Secrets("klaxon-system").Get(ctx, flagValue(args, "--respond-keys-secret"), metav1.GetOptions{}); err != nil {
		t.Errorf("the respond keys' Secret: %v", err)
	}

	// A tenant, declared by its administrator: every object passes the validating
	// webhook, which fails closed, so this only works through the chart's Service.
	sink := newDeliverySink(t)
	tenant := pagedTenant(sink.URL, level{0, "alice"})
	eventually(t, time.Minute, func() error {
		_, err := runKubectl(adminKubeconfig, tenant, "apply", "-f", "-")
		return err
	})
	// An invalid manifest is refused at admission, with the webhook's reason.
	bad := `apiVersion: klaxon.dev/v1alpha1
kind: Responder
metadata: {name: mallory, namespace: acme}
spec:
  displayName: Mallory
  timeZone: Mars/Olympus_Mons
  contactMethods: [{name: pager, channelRef: {name: pager}, address: mallory}]
`
	if out, err := runKubectl(adminKubeconfig, bad, "apply", "-f", "-"); err == nil || !strings.Contains(out, "unknown time zone") {
		t.Errorf("a Responder in an unknown time zone was not refused by the webhook: %v\n%s", err, out)
	}

	// An incident pages the responder through the channel, with links to act on.
	inc := `apiVersion: klaxon.dev/v1alpha1
kind: Incident
metadata: {name: checkout-down, namespace: acme}
spec:
  title: checkout returns 500s
  severity: SEV1
  service: checkout
  escalationPolicyRef: {name: default}
`
	if _, err := runKubectl(adminKubeconfig, inc, "create", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	// The mutating webhook stamped who opened it.
	if by, _ := kubectl("-n", "acme", "get", "incident", "checkout-down", "-o", `jsonpath={.metadata.annotations.klaxon\.dev/state-changed-by}`); by == "" {
		t.Errorf("the incident was not stamped by the mutating webhook")
	}
	eventually(t, time.Minute, func() error {
		if n := sink.count("checkout-down", 1); n != 1 {
			return fmt.Errorf("level 1 of checkout-down paged %d times", n)
		}
		return nil
	})
	page := sink.first("checkout-down", 1).body
	ack := regexp.MustCompile(`"acknowledge":"([^"]+)"`).FindStringSubmatch(page)
	if ack == nil || !strings.HasPrefix(ack[1], externalURL+"/api/v1/respond/") {
		t.Fatalf("the page has no acknowledge link under %s:\n%s", externalURL, page)
	}
	// The link acknowledges as alice, through the chart's RBAC.
	resp, err = http.Post(strings.ReplaceAll(ack[1], `\u0026`, "&"), "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("acknowledging through the link: %s", resp.Status)
	}
	eventually(t, 30*time.Second, func() error {
		state, err := kubectl("-n", "acme", "get", "incident", "checkout-down", "-o", "jsonpath={.spec.state} {.spec.acknowledgedBy}")
		if err != nil || !strings.HasPrefix(state, "Acknowledged ") || !strings.Contains(state, "alice") {
			return fmt.Errorf("incident is %q (%v), want Acknowledged by alice", state, err)
		}
		return nil
	})

	// The chart's RBAC covered everything Klaxon did.
	if strings.Contains(manager.log.String(), "forbidden") {
		t.Errorf("klaxon was refused something with the chart's RBAC:\n%s", manager.log.String())
	}

	// make undeploy removes the release and leaves the CRDs and the incidents.
	if out, err := makeTarget(ctx, adminKubeconfig, "undeploy", "NAMESPACE=klaxon-system"); err != nil {
		t.Fatalf("make undeploy: %v\n%s", err, out)
	}
	if _, err := admin.AppsV1().Deployments("klaxon-system").Get(ctx, "klaxon", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the Deployment is still there after make undeploy: %v", err)
	}
	// A fail-closed webhook left behind with nothing serving it would refuse every
	// change to the tenants' objects.
	if _, err := admin.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "klaxon-validating", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the validating webhook is still there after make undeploy: %v", err)
	}
	if out, err := kubectl("-n", "acme", "label", "responder", "alice", "team=payments"); err != nil {
		t.Errorf("after make undeploy a Responder cannot be changed: %v\n%s", err, out)
	}
	if out, err := kubectl("-n", "acme", "get", "incident", "checkout-down", "-o", "name"); err != nil {
		t.Errorf("the incident did not survive make undeploy: %v\n%s", err, out)
	}
}

// makeTarget runs a make target of the repository against kubeconfig's cluster, as a
// user with that KUBECONFIG would.
func makeTarget(ctx context.Context, kubeconfig string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "make", args...)
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// nonLoopbackIPv4 is an address of this machine that an Endpoints object may hold
// (the API server refuses loopback ones).
func nonLoopbackIPv4(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() && !ipn.IP.IsLinkLocalUnicast() {
			return ipn.IP.String()
		}
	}
	t.Fatalf("this machine has no non-loopback IPv4 address to publish as the webhook Service's endpoint: %v", addrs)
	return ""
}

// publishEndpoint does what the EndpointSlice controller does for a ready pod: the
// webhook Service's port "webhook" is ip:port.
func publishEndpoint(ctx context.Context, t *testing.T, c kubernetes.Interface, ip string, port int) {
	t.Helper()
	if _, err := c.DiscoveryV1().EndpointSlices("klaxon-system").Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "klaxon-webhook-test", Labels: map[string]string{discoveryv1.LabelServiceName: "klaxon-webhook"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("webhook"), Port: ptr.To(int32(port)), Protocol: ptr.To(corev1.ProtocolTCP)}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// overrideFlags replaces the values of the named flags in args, and adds those
// args lack.
func overrideFlags(args []string, with map[string]string) []string {
	out := make([]string, 0, len(args)+len(with))
	seen := map[string]bool{}
	for _, a := range args {
		name, _, _ := strings.Cut(a, "=")
		if v, ok := with[name]; ok {
			a, seen[name] = name+"="+v, true
		}
		out = append(out, a)
	}
	for name, v := range with {
		if !seen[name] {
			out = append(out, name+"="+v)
		}
	}
	return out
}

// TestInstallManifestsCanRunTheManager checks both ways to install — the Helm chart
// (`make deploy`) and config/default (kustomize) — for what the manager's pod needs
// with a read-only root file system: every directory it is told to use is a mounted
// volume, every port it listens on is a declared container port the probes and
// Services name, and several replicas elect a leader. With cert-manager the chart asks
// it for the webhook certificate and has the CA injected.
func TestInstallManifestsCanRunTheManager(t *testing.T) {
	helm := installedTool(t, "hack/install-helm.sh")
	run := func(name string, args ...string) []byte {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = testenv.RepoRoot()
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	run(helm, "lint", "--strict", "charts/klaxon")
	helmTemplate := func(set ...string) []*unstructured.Unstructured {
		args := []string{"template", "klaxon", "charts/klaxon", "--namespace", "klaxon-system", "--kube-version", testenv.K8sVersion}
		for _, s := range set {
			args = append(args, "--set", s)
		}
		return decodeManifests(t, run(helm, args...))
	}
	renders := map[string][]*unstructured.Unstructured{
		"helm":      helmTemplate(),
		"kustomize": decodeManifests(t, run(filepath.Join(testenv.AssetsDir(), "kubectl"), "kustomize", "config/default")),
	}
	for name, objs := range renders {
		t.Run(name, func(t *testing.T) {
			var d appsv1.Deployment
			var services []corev1.Service
			for _, o := range objs {
				switch o.GetKind() {
				case "Deployment":
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &d); err != nil {
						t.Fatal(err)
					}
				case "Service":
					var s corev1.Service
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, &s); err != nil {
						t.Fatal(err)
					}
					services = append(services, s)
				}
			}
			if len(d.Spec.Template.Spec.Containers) != 1 {
				t.Fatalf("no Deployment with one container in %d objects", len(objs))
			}
			c := d.Spec.Template.Spec.Containers[0]
			if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				t.Errorf("the root file system is writable")
			}
			if !memoryLimitTold(c) {
				t.Errorf("GOMEMLIMIT is not the container's limits.memory: the heap can outgrow the limit before it is collected (env %+v)", c.Env)
			}
			if d.Spec.Replicas != nil && *d.Spec.Replicas > 1 && !slices.Contains(c.Args, "--leader-elect") {
				t.Errorf("%d replicas without --leader-elect would all page", *d.Spec.Replicas)
			}
			mounted := func(p string) bool {
				for _, m := range c.VolumeMounts {
					if p == m.MountPath || strings.HasPrefix(p, strings.TrimSuffix(m.MountPath, "/")+"/") {
						return true
					}
				}
				return false
			}
			for _, dir := range []string{"/tmp", flagValue(c.Args, "--webhook-cert-dir"), flagValue(c.Args, "--postmortem-cache-dir")} {
				if dir == "" || !mounted(dir) {
					t.Errorf("directory %q is not on a mounted volume (args %q)", dir, c.Args)
				}
			}
			ports := map[string]int32{}
			for _, p := range c.Ports {
				ports[p.Name] = p.ContainerPort
			}
			listens := map[string]string{"--http-bind-address": "http", "--metrics-bind-address": "metrics", "--health-probe-bind-address": "probes", "--webhook-port": "webhook"}
			for flag, portName := range listens {
				v := flagValue(c.Args, flag)
				if v == "" {
					t.Errorf("%s is not set: the manager's default need not match the declared ports", flag)
					continue
				}
				if _, port, ok := strings.Cut(v, ":"); ok {
					v = port
				}
				if fmt.Sprint(ports[portName]) != v {
					t.Errorf("%s=%s, but container port %q is %d", flag, flagValue(c.Args, flag), portName, ports[portName])
				}
			}
			for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe} {
				if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Port.String() != "probes" {
					t.Errorf("probe %+v does not use the probes port", probe)
				}
			}
			for _, s := range services {
				for _, p := range s.Spec.Ports {
					if _, ok := ports[p.TargetPort.String()]; !ok {
						t.Errorf("Service %s's port %s targets %q, which the container does not declare", s.Name, p.Name, p.TargetPort.String())
					}
				}
			}
		})
	}

	// Bad values are refused before anything is installed, naming the value.
	for _, bad := range []string{"externalURL=klaxon.example.com", "replicaCount=0", "logging.encoder=text"} {
		cmd := exec.Command(helm, "template", "klaxon", "charts/klaxon", "--kube-version", testenv.K8sVersion, "--set", bad)
		cmd.Dir = testenv.RepoRoot()
		out, err := cmd.CombinedOutput()
		name, _, _ := strings.Cut(bad, "=")
		if err == nil || !strings.Contains(string(out), "/"+strings.ReplaceAll(name, ".", "/")) {
			t.Errorf("helm template --set %s: %v, want it refused naming %s:\n%s", bad, err, name, out)
		}
	}

	// The ServiceMonitor scrapes exactly the Service with the metrics port.
	var monitor *unstructured.Unstructured
	var scraped []string
	monitored := helmTemplate("serviceMonitor.enabled=true")
	for _, o := range monitored {
		if o.GetKind() == "ServiceMonitor" {
			monitor = o
		}
	}
	if monitor == nil {
		t.Fatal("serviceMonitor.enabled=true renders no ServiceMonitor")
	}
	selector, _, _ := unstructured.NestedStringMap(monitor.Object, "spec", "selector", "matchLabels")
	for _, o := range monitored {
		if o.GetKind() == "Service" && labels.SelectorFromSet(selector).Matches(labels.Set(o.GetLabels())) {
			ports, _, _ := unstructured.NestedSlice(o.Object, "spec", "ports")
			for _, p := range ports {
				if p.(map[string]any)["name"] == "metrics" {
					scraped = append(scraped, o.GetName())
				}
			}
		}
	}
	if !slices.Equal(scraped, []string{"klaxon"}) {
		t.Errorf("the ServiceMonitor scrapes the metrics port of %v, want [klaxon]", scraped)
	}

	certManager := helmTemplate("webhook.certManager.enabled=true")
	kinds := map[string]*unstructured.Unstructured{}
	for _, o := range certManager {
		kinds[o.GetKind()] = o
	}
	if kinds["Certificate"] == nil || kinds["Issuer"] == nil {
		t.Errorf("with cert-manager the chart makes no Certificate and Issuer")
	}
	if kinds["Secret"] != nil {
		t.Errorf("with cert-manager the chart still makes its own certificate Secret")
	}
	for _, kind := range []string{"MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"} {
		if o := kinds[kind]; o == nil || o.GetAnnotations()["cert-manager.io/inject-ca-from"] != "klaxon-system/klaxon-webhook" {
			t.Errorf("%s is not injected with cert-manager's CA: %v", kind, o)
		}
	}
}

// decodeManifests splits a stream of YAML documents into objects.
func decodeManifests(t *testing.T, data []byte) []*unstructured.Unstructured {
	t.Helper()
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(string(data)), 4096)
	var objs []*unstructured.Unstructured
	for {
		var o map[string]any
		if err := dec.Decode(&o); err == io.EOF {
			return objs
		} else if err != nil {
			t.Fatalf("decoding manifests: %v", err)
		}
		if o != nil {
			objs = append(objs, &unstructured.Unstructured{Object: o})
		}
	}
}

// memoryLimitTold reports whether c's Go runtime is given the container's memory
// limit (GOMEMLIMIT from limits.memory), and c has one.
func memoryLimitTold(c corev1.Container) bool {
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		return false
	}
	for _, e := range c.Env {
		if e.Name == "GOMEMLIMIT" && e.ValueFrom != nil && e.ValueFrom.ResourceFieldRef != nil {
			ref := e.ValueFrom.ResourceFieldRef
			return ref.Resource == "limits.memory" && (ref.ContainerName == "" || ref.ContainerName == c.Name)
		}
	}
	return false
}
