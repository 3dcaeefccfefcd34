package postmortem

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// httpRemote serves bare repositories under root through `git http-backend` (as CGI),
// behind basic auth that the handler checks, and can be switched off (503).
type httpRemote struct {
	*httptest.Server
	down     atomic.Bool
	requests atomic.Int64
}

func newHTTPRemote(t *testing.T, root, user, password string) *httpRemote {
	t.Helper()
	execPath := strings.TrimSpace(runGit(t, "", "--exec-path"))
	backend := filepath.Join(execPath, "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		t.Fatalf("git-http-backend is required: %v (apt-get install -y git)", err)
	}
	h := &httpRemote{}
	cgiHandler := &cgi.Handler{
		Path: backend,
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			// http-backend allows a push only from an authenticated user.
			"REMOTE_USER=" + user,
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + root,
		},
	}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.requests.Add(1)
		if h.down.Load() {
			http.Error(w, "maintenance", http.StatusServiceUnavailable)
			return
		}
		u, p, ok := r.BasicAuth()
		if !ok || u != user || p != password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		cgiHandler.ServeHTTP(w, r)
	}))
	t.Cleanup(h.Close)
	return h
}

func TestRepositoryOverHTTP(t *testing.T) {
	remote := newBareRemote(t)
	srv := newHTTPRemote(t, filepath.Dir(remote), "klaxon", "s3cret-token")
	url := srv.URL + "/" + filepath.Base(remote)
	secret := map[string][]byte{"username": []byte("klaxon"), "password": []byte("s3cret-token")}
	r := openRepo(t, Options{URL: url, Credentials: CredentialsFromSecret(secret)})

	first := commitOne(t, r, change("postmortems/2026/acme/a.md", "a\n"))
	if show(t, remote, "main", "postmortems/2026/acme/a.md") != "a\n" || revParse(t, remote, "main") != first.Commit {
		t.Fatal("record not on the remote")
	}

	// The server goes down for a while: commits fail as Transient, then land once.
	srv.down.Store(true)
	for range 3 {
		_, err := r.Commit(context.Background(), []Change{change("postmortems/2026/acme/b.md", "b\n")})
		if err == nil {
			t.Fatal("commit to a server answering 503 succeeded")
		}
		if !IsTransient(err) {
			t.Errorf("503: kind %s, want Transient (%v)", KindOf(err), err)
		}
		if strings.Contains(err.Error(), "s3cret-token") {
			t.Errorf("the error shows the token: %v", err)
		}
	}
	srv.down.Store(false)
	second := commitOne(t, r, change("postmortems/2026/acme/b.md", "b\n"))
	if !second.Committed || show(t, remote, "main", "postmortems/2026/acme/b.md") != "b\n" {
		t.Fatalf("after the server returned: %+v", second)
	}
	if n := commitCount(t, remote, "main"); n != 2 {
		t.Errorf("%d commits, want 2", n)
	}

	// A fresh cache fetches over HTTP and finds both records in place.
	fresh := openRepo(t, Options{URL: url, Credentials: CredentialsFromSecret(secret)})
	if got := commitOne(t, fresh, change("postmortems/2026/acme/b.md", "b\n")); got.Committed || got.Commit != second.Commit {
		t.Errorf("from a new cache: %+v", got)
	}

	// Wrong credentials are an Auth error, and say nothing of the password.
	bad := openRepo(t, Options{URL: url, Credentials: Credentials{Username: "klaxon", Password: "wrong-password"}})
	_, err := bad.Commit(context.Background(), []Change{change("c.md", "c\n")})
	if err == nil || KindOf(err) != Auth {
		t.Errorf("wrong password: %v (kind %s), want Auth", err, KindOf(err))
	}
	if err != nil && strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("the error shows the password: %v", err)
	}
	fsck(t, remote)
}

// sshServer is a real OpenSSH sshd on loopback, started for the test as the current
// user, that lets one key in.
type sshServer struct {
	addr       string
	user       string
	identity   []byte // the client's private key, as the Secret holds it
	knownHosts []byte // the server's host key, as the Secret holds it
}

func startSSHD(t *testing.T) *sshServer {
	t.Helper()
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		t.Fatalf("sshd is required by the ssh transport test: apt-get install -y openssh-server (%v)", err)
	}
	requireBinary(t, "git-upload-pack", "git")
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	// sshd's privilege separation directory must exist.
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil && os.Getuid() == 0 {
		t.Fatalf("create /run/sshd: %v", err)
	}
	dir, err := os.MkdirTemp("", "sshd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	hostPub, hostPEM := ed25519Key(t)
	clientPub, clientPEM := ed25519Key(t)
	writeFile(t, filepath.Join(dir, "host_key"), string(hostPEM))
	if err := os.Chmod(filepath.Join(dir, "host_key"), 0o600); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "authorized_keys"), string(ssh.MarshalAuthorizedKey(clientPub)))

	port := freePort(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	permitRoot := "no"
	if u.Uid == "0" {
		permitRoot = "prohibit-password"
	}
	config := fmt.Sprintf(`ListenAddress %s
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PermitRootLogin %s
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
AllowTcpForwarding no
X11Forwarding no
PrintMotd no
LogLevel VERBOSE
`, addr, filepath.Join(dir, "host_key"), filepath.Join(dir, "authorized_keys"), filepath.Join(dir, "sshd.pid"), permitRoot)
	writeFile(t, filepath.Join(dir, "sshd_config"), config)

	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start sshd: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("sshd log:\n%s", logs.String())
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sshd did not listen on %s: %v\n%s", addr, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	line := knownhosts.Line([]string{knownhosts.Normalize(addr)}, hostPub)
	return &sshServer{addr: addr, user: u.Username, identity: clientPEM, knownHosts: []byte(line + "\n")}
}

func ed25519Key(t *testing.T) (ssh.PublicKey, []byte) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return sshPub, pem.EncodeToMemory(block)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestRepositoryOverSSH(t *testing.T) {
	srv := startSSHD(t)
	remote := newBareRemote(t)
	url := fmt.Sprintf("ssh://%s@%s%s", srv.user, srv.addr, remote)
	secret := map[string][]byte{"identity": srv.identity, "known_hosts": srv.knownHosts}

	r := openRepo(t, Options{URL: url, Credentials: CredentialsFromSecret(secret)})
	first := commitOne(t, r, change("postmortems/2026/acme/a.md", "a\n"))
	if show(t, remote, "main", "postmortems/2026/acme/a.md") != "a\n" || revParse(t, remote, "main") != first.Commit {
		t.Fatal("record not on the remote")
	}
	// A second writer, over ssh too, with its own cache: its stale view is fixed by a
	// fetch, and both records land.
	other := openRepo(t, Options{URL: url, Credentials: CredentialsFromSecret(secret)})
	if got := commitOne(t, other, change("postmortems/2026/acme/a.md", "a\n")); got.Committed || got.Commit != first.Commit {
		t.Errorf("second cache, same record: %+v", got)
	}
	commitOne(t, r, change("postmortems/2026/acme/b.md", "b\n"))
	c := commitOne(t, other, change("postmortems/2026/acme/c.md", "c\n"))
	if !c.Committed || commitCount(t, remote, "main") != 3 {
		t.Errorf("after a rebuild on the moved remote: %+v, %d commits", c, commitCount(t, remote, "main"))
	}
	fsck(t, remote)

	// A host key that does not match known_hosts is refused, as an Auth error.
	otherHost, _ := ed25519Key(t)
	wrongHosts := []byte(knownhosts.Line([]string{knownhosts.Normalize(srv.addr)}, otherHost) + "\n")
	bad := openRepo(t, Options{URL: url, Credentials: Credentials{SSHIdentity: srv.identity, KnownHosts: wrongHosts}})
	if _, err := bad.Commit(context.Background(), []Change{change("d.md", "d\n")}); err == nil || KindOf(err) != Auth {
		t.Errorf("wrong host key: %v (kind %s), want Auth", err, KindOf(err))
	}
	// A key the server does not know is refused, as an Auth error.
	_, strangerKey := ed25519Key(t)
	stranger := openRepo(t, Options{URL: url, Credentials: Credentials{SSHIdentity: strangerKey, KnownHosts: srv.knownHosts}})
	if _, err := stranger.Commit(context.Background(), []Change{change("d.md", "d\n")}); err == nil || KindOf(err) != Auth {
		t.Errorf("unknown client key: %v (kind %s), want Auth", err, KindOf(err))
	}
	if n := commitCount(t, remote, "main"); n != 3 {
		t.Errorf("refused writers changed the remote: %d commits", n)
	}
}
