package postmortem

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// forgeServer records the requests it gets and answers with the next canned response.
type forgeServer struct {
	*httptest.Server
	mu        sync.Mutex
	requests  []recordedRequest
	responses []cannedResponse
}

type recordedRequest struct {
	Method, RequestURI string
	Header             http.Header
	Body               map[string]any
}

type cannedResponse struct {
	status int
	body   string
}

func newForgeServer(t *testing.T, responses ...cannedResponse) *forgeServer {
	t.Helper()
	f := &forgeServer{responses: responses}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var body map[string]any
		if err := json.Unmarshal(b, &body); err != nil {
			t.Errorf("request body is not a JSON object: %q", b)
		}
		f.mu.Lock()
		f.requests = append(f.requests, recordedRequest{Method: r.Method, RequestURI: r.RequestURI, Header: r.Header.Clone(), Body: body})
		resp := cannedResponse{status: http.StatusInternalServerError, body: `{"message":"no canned response"}`}
		if len(f.responses) > 0 {
			resp, f.responses = f.responses[0], f.responses[1:]
		}
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(resp.status)
		io.WriteString(w, resp.body)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *forgeServer) got() []recordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedRequest(nil), f.requests...)
}

var testPR = PullRequest{
	Title: "Post-mortem: checkout database credentials exposed",
	Body:  "Record of acme/checkout-db-leak.",
	Head:  "postmortem/acme/checkout-db-leak",
	Base:  "main",
}

func TestGitHubPullRequest(t *testing.T) {
	srv := newForgeServer(t,
		cannedResponse{201, `{"number": 7, "html_url": "https://github.example/acme/records/pull/7"}`},
		cannedResponse{422, `{"message":"Validation Failed","errors":[{"resource":"PullRequest","code":"custom","message":"A pull request already exists for acme:postmortem/acme/checkout-db-leak."}],"documentation_url":"https://docs.github.com/rest/pulls/pulls#create-a-pull-request","status":"422"}`},
		cannedResponse{422, `{"message":"Validation Failed","errors":[{"resource":"PullRequest","field":"base","code":"invalid"}]}`},
		cannedResponse{401, `{"message":"Bad credentials"}`},
		cannedResponse{502, `bad gateway`},
	)
	f, err := NewForge(v1alpha1.Forge{Type: v1alpha1.ForgeGitHub, APIURL: srv.URL + "/", Project: "acme/records"}, "ghp_test-token", nil)
	if err != nil {
		t.Fatal(err)
	}
	url, err := f.OpenPullRequest(context.Background(), testPR)
	if err != nil || url != "https://github.example/acme/records/pull/7" {
		t.Errorf("created: %q, %v", url, err)
	}
	if _, err := f.OpenPullRequest(context.Background(), testPR); err != nil {
		t.Errorf("already exists: %v, want success", err)
	}
	for _, want := range []ErrorKind{Permanent, Auth, Transient} {
		if _, err := f.OpenPullRequest(context.Background(), testPR); err == nil || KindOf(err) != want {
			t.Errorf("got %v (kind %s), want %s", err, KindOf(err), want)
		} else if strings.Contains(err.Error(), "ghp_test-token") {
			t.Errorf("error shows the token: %v", err)
		}
	}

	req := srv.got()[0]
	if req.Method != http.MethodPost || req.RequestURI != "/repos/acme/records/pulls" {
		t.Errorf("request %s %s, want POST /repos/acme/records/pulls", req.Method, req.RequestURI)
	}
	for h, want := range map[string]string{
		"Authorization":        "Bearer ghp_test-token",
		"Accept":               "application/vnd.github+json",
		"X-Github-Api-Version": "2022-11-28",
		"Content-Type":         "application/json",
	} {
		if got := req.Header.Get(h); got != want {
			t.Errorf("header %s: %q, want %q", h, got, want)
		}
	}
	wantBody := map[string]any{"title": testPR.Title, "head": testPR.Head, "base": testPR.Base, "body": testPR.Body}
	if fmt.Sprint(req.Body) != fmt.Sprint(wantBody) {
		t.Errorf("body %v, want %v", req.Body, wantBody)
	}
}

func TestGitLabMergeRequest(t *testing.T) {
	srv := newForgeServer(t,
		cannedResponse{201, `{"iid": 3, "web_url": "https://gitlab.example/acme/sre/records/-/merge_requests/3"}`},
		cannedResponse{409, `{"message":["Another open merge request already exists for this source branch: !3"]}`},
		cannedResponse{403, `{"message":"403 Forbidden"}`},
		cannedResponse{404, `{"message":"404 Project Not Found"}`},
	)
	// The instance URL without /api/v4 is accepted too.
	f, err := NewForge(v1alpha1.Forge{Type: v1alpha1.ForgeGitLab, APIURL: srv.URL, Project: "acme/sre/records"}, "glpat-test-token", nil)
	if err != nil {
		t.Fatal(err)
	}
	url, err := f.OpenPullRequest(context.Background(), testPR)
	if err != nil || url != "https://gitlab.example/acme/sre/records/-/merge_requests/3" {
		t.Errorf("created: %q, %v", url, err)
	}
	if _, err := f.OpenPullRequest(context.Background(), testPR); err != nil {
		t.Errorf("already exists (409): %v, want success", err)
	}
	if _, err := f.OpenPullRequest(context.Background(), testPR); KindOf(err) != Auth {
		t.Errorf("403: %v", err)
	}
	if _, err := f.OpenPullRequest(context.Background(), testPR); err == nil || KindOf(err) != Permanent {
		t.Errorf("404: %v", err)
	}

	req := srv.got()[0]
	if req.Method != http.MethodPost || req.RequestURI != "/api/v4/projects/acme%2Fsre%2Frecords/merge_requests" {
		t.Errorf("request %s %s", req.Method, req.RequestURI)
	}
	if got := req.Header.Get("PRIVATE-TOKEN"); got != "glpat-test-token" {
		t.Errorf("PRIVATE-TOKEN %q", got)
	}
	if got := req.Header.Get("Authorization"); got != "" {
		t.Errorf("unexpected Authorization header %q", got)
	}
	wantBody := map[string]any{"source_branch": testPR.Head, "target_branch": testPR.Base, "title": testPR.Title, "description": testPR.Body}
	if fmt.Sprint(req.Body) != fmt.Sprint(wantBody) {
		t.Errorf("body %v, want %v", req.Body, wantBody)
	}
}

func TestNewForgeRefusesBadSpecs(t *testing.T) {
	for name, spec := range map[string]v1alpha1.Forge{
		"github project": {Type: v1alpha1.ForgeGitHub, APIURL: "https://api.github.com", Project: "no-slash"},
		"api url":        {Type: v1alpha1.ForgeGitHub, APIURL: "ftp://x", Project: "a/b"},
		"type":           {Type: "Gitea", APIURL: "https://x", Project: "a/b"},
		"gitlab project": {Type: v1alpha1.ForgeGitLab, APIURL: "https://x", Project: ""},
	} {
		if _, err := NewForge(spec, "token", nil); err == nil || KindOf(err) != Permanent {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := NewForge(v1alpha1.Forge{Type: v1alpha1.ForgeGitHub, APIURL: "https://api.github.com", Project: "a/b"}, "", nil); err == nil {
		t.Error("no token: accepted")
	}
}

// TestPullRequestMode commits records to incident branches based on main and opens a
// pull request for each; an updated record updates the branch, and the forge's
// "already exists" is success.
func TestPullRequestMode(t *testing.T) {
	remote := newBareRemote(t)
	seed(t, remote, "main", map[string]string{"README.md": "records\n"})
	base := revParse(t, remote, "main")
	srv := newForgeServer(t,
		cannedResponse{201, `{"html_url": "https://github.example/acme/records/pull/1"}`},
		cannedResponse{422, `{"message":"Validation Failed","errors":[{"message":"A pull request already exists for acme:postmortem/acme/checkout-db-leak."}]}`},
	)
	forge, err := NewForge(v1alpha1.Forge{Type: v1alpha1.ForgeGitHub, APIURL: srv.URL, Project: "acme/records"}, "token", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := openRepo(t, Options{URL: fileURL(remote), Mode: v1alpha1.CommitPullRequest, Forge: forge, Dir: filepath.Join(t.TempDir(), "cache")})

	rec := fixtureRecord(t)
	ch, err := r.Prepare(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ch.Branch != "postmortem/acme/checkout-db-leak" {
		t.Fatalf("branch %q", ch.Branch)
	}
	res := commitOne(t, r, ch)
	if res.PullRequestURL != "https://github.example/acme/records/pull/1" || res.Branch != ch.Branch {
		t.Errorf("result %+v", res)
	}
	branch := "refs/heads/" + ch.Branch
	if revParse(t, remote, branch) != res.Commit || revParse(t, remote, branch+"^") != base {
		t.Errorf("the branch is not one commit on main")
	}
	if revParse(t, remote, "main") != base {
		t.Error("PullRequest mode committed to main")
	}

	// The root cause is filled in later: the branch gets a second commit.
	rec.RootCause = "A debug log line printed the DSN."
	ch2, err := r.Prepare(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	res2 := commitOne(t, r, ch2)
	if !res2.Committed || revParse(t, remote, branch+"^") != res.Commit {
		t.Errorf("update: %+v", res2)
	}
	if !strings.Contains(show(t, remote, branch, ch.Path), "A debug log line printed the DSN.") {
		t.Error("the branch does not have the update")
	}

	reqs := srv.got()
	if len(reqs) != 2 {
		t.Fatalf("%d pull request calls, want 2", len(reqs))
	}
	if reqs[0].Body["head"] != ch.Branch || reqs[0].Body["base"] != "main" || !strings.HasPrefix(fmt.Sprint(reqs[0].Body["title"]), "Post-mortem: ") {
		t.Errorf("pull request %v", reqs[0].Body)
	}
	fsck(t, remote)
}

// TestPullRequestModeBatch commits two incidents in one call: two branches, one atomic
// push, two pull requests.
func TestPullRequestModeBatch(t *testing.T) {
	remote := newBareRemote(t)
	seed(t, remote, "main", map[string]string{"README.md": "records\n"})
	srv := newForgeServer(t, cannedResponse{201, `{"web_url": "https://gitlab.example/mr/1"}`}, cannedResponse{201, `{"web_url": "https://gitlab.example/mr/2"}`})
	forge, err := NewForge(v1alpha1.Forge{Type: v1alpha1.ForgeGitLab, APIURL: srv.URL + "/api/v4", Project: "42"}, "token", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := openRepo(t, Options{URL: fileURL(remote), Mode: v1alpha1.CommitPullRequest, Forge: forge})
	var changes []Change
	for _, name := range []string{"first", "second"} {
		rec := fixtureRecord(t)
		rec.Incident.Name = name
		ch, err := r.Prepare(rec, nil)
		if err != nil {
			t.Fatal(err)
		}
		changes = append(changes, ch)
	}
	res, err := r.Commit(context.Background(), changes)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range []string{"first", "second"} {
		branch := "refs/heads/postmortem/acme/" + name
		if revParse(t, remote, branch) != res[i].Commit || res[i].PullRequestURL == "" {
			t.Errorf("%s: %+v", name, res[i])
		}
	}
	if n := pushCount(t, remote, "postmortem/acme/first") + pushCount(t, remote, "postmortem/acme/second"); n != 2 {
		t.Errorf("%d branch updates", n)
	}
	if got := srv.got(); len(got) != 2 || got[0].RequestURI != "/api/v4/projects/42/merge_requests" {
		t.Errorf("merge requests: %+v", got)
	}
	fsck(t, remote)
}
