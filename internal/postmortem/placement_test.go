package postmortem

import (
	"context"
	"strings"
	"testing"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// Two incidents of one name: the fixture's (A) and a later one (B) that intake named the
// same after retention deleted A.
const (
	uidA      = "6f1c2b8e-3d4a-4f5b-9c6d-7e8f9a0b1c2d" // the fixture's
	uidB      = "1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d"
	pathA     = "postmortems/2026/acme/checkout-db-leak.md"
	pathB     = "postmortems/2026/acme/checkout-db-leak-1a2b3c4d.md"
	branchA   = "postmortem/acme/checkout-db-leak"
	branchB   = "postmortem/acme/checkout-db-leak-1a2b3c4d"
	titleOfB  = "Checkout database leaked again"
	causeOfA2 = "A debug log line printed the DSN."
)

// recordB is a later incident with the fixture's namespace and name.
func recordB(t *testing.T) Record {
	rec := fixtureRecord(t)
	rec.Incident.UID = uidB
	rec.Title = titleOfB
	return rec
}

func prepare(t *testing.T, r *Repository, rec Record) Change {
	t.Helper()
	ch, err := r.Prepare(rec, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func TestReusedNameGetsAFileOfItsOwn(t *testing.T) {
	remote := newBareRemote(t)
	r := openRepo(t, Options{URL: fileURL(remote)})

	recA := fixtureRecord(t)
	chA := prepare(t, r, recA)
	resA := commitOne(t, r, chA)
	if resA.Path != pathA || !resA.Committed {
		t.Fatalf("A: %+v", resA)
	}

	chB := prepare(t, r, recordB(t))
	if chB.Path != pathA {
		t.Fatalf("B's template path %q, want %q", chB.Path, pathA)
	}
	resB := commitOne(t, r, chB)
	if resB.Path != pathB || !resB.Committed {
		t.Fatalf("B: %+v, want a commit at %s", resB, pathB)
	}
	if show(t, remote, "main", pathA) != string(chA.Content) {
		t.Error("B's record replaced A's")
	}
	if show(t, remote, "main", pathB) != string(chB.Content) {
		t.Error("B's record is not at its own path")
	}
	if got, err := ParseRecord([]byte(show(t, remote, "main", pathB))); err != nil || got.Incident.UID != uidB {
		t.Errorf("B's file: %v, uid %q", err, got.Incident.UID)
	}

	// Committing B again finds its file: no commit, no push, the same answer.
	pushes := pushCount(t, remote, "main")
	again := commitOne(t, r, chB)
	if again.Committed || again.Commit != resB.Commit || again.Path != pathB {
		t.Errorf("B again: %+v, want %s at %s", again, resB.Commit, pathB)
	}
	if n := pushCount(t, remote, "main"); n != pushes {
		t.Errorf("B again pushed (%d pushes, want %d)", n, pushes)
	}
	// So does a new cache.
	fresh := openRepo(t, Options{URL: fileURL(remote)})
	if got := commitOne(t, fresh, chB); got.Committed || got.Commit != resB.Commit || got.Path != pathB {
		t.Errorf("B from a new cache: %+v", got)
	}

	// An edit of B is a new version of B's file.
	recB := recordB(t)
	recB.RootCause = "The same debug line, in another service."
	resB2 := commitOne(t, r, prepare(t, r, recB))
	if !resB2.Committed || resB2.Path != pathB || !strings.Contains(show(t, remote, "main", pathB), "another service") {
		t.Errorf("B's edit: %+v", resB2)
	}
	// An edit of A (had it lived on) is a new version of A's file.
	recA.RootCause = causeOfA2
	resA2 := commitOne(t, r, prepare(t, r, recA))
	if !resA2.Committed || resA2.Path != pathA || !strings.Contains(show(t, remote, "main", pathA), causeOfA2) {
		t.Errorf("A's edit: %+v", resA2)
	}
	if strings.Contains(show(t, remote, "main", pathB), causeOfA2) {
		t.Error("A's edit reached B's file")
	}
	if files := strings.Fields(runGit(t, remote, "ls-tree", "-r", "--name-only", "main")); len(files) != 2 {
		t.Errorf("files %v, want A's and B's", files)
	}
	fsck(t, remote)
}

// TestReusedNameInOneBatch: A and B arrive together; B builds on A's commit and sees it.
func TestReusedNameInOneBatch(t *testing.T) {
	remote := newBareRemote(t)
	r := openRepo(t, Options{URL: fileURL(remote)})
	chA, chB := prepare(t, r, fixtureRecord(t)), prepare(t, r, recordB(t))
	res, err := r.Commit(context.Background(), []Change{chA, chB})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Path != pathA || res[1].Path != pathB || !res[0].Committed || !res[1].Committed {
		t.Fatalf("results %+v", res)
	}
	if show(t, remote, "main", pathA) != string(chA.Content) || show(t, remote, "main", pathB) != string(chB.Content) {
		t.Error("a record is not in its file")
	}
	// Again, in the other order: nothing to commit, each finds its own file.
	again, err := r.Commit(context.Background(), []Change{chB, chA})
	if err != nil {
		t.Fatal(err)
	}
	if again[0].Committed || again[0].Path != pathB || again[0].Commit != res[1].Commit ||
		again[1].Committed || again[1].Path != pathA || again[1].Commit != res[0].Commit {
		t.Errorf("again %+v", again)
	}
}

// TestRecordsThatDoNotSayWhose: a file whose front matter has no UID counts as this
// incident's when it names this incident or nothing (it cannot be told apart from an
// earlier version of this record), and as another's when it names another incident.
func TestRecordsThatDoNotSayWhose(t *testing.T) {
	noUID := func(ns, name string) string {
		rec := fixtureRecord(t)
		rec.Incident = IncidentRef{Namespace: ns, Name: name}
		b, err := Render(rec, nil)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name, existing, want string
	}{
		{"same name, no uid", noUID("acme", "checkout-db-leak"), pathA},
		{"not a record", "# Notes\n", pathA},
		{"another name, no uid", noUID("acme", "checkout-latency"), "postmortems/2026/acme/checkout-db-leak-6f1c2b8e.md"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			remote := newBareRemote(t)
			seed(t, remote, "main", map[string]string{pathA: tc.existing})
			r := openRepo(t, Options{URL: fileURL(remote)})
			res := commitOne(t, r, prepare(t, r, fixtureRecord(t)))
			if res.Path != tc.want || !res.Committed {
				t.Fatalf("result %+v, want a commit at %s", res, tc.want)
			}
			if tc.want != pathA && show(t, remote, "main", pathA) != tc.existing {
				t.Error("the other incident's file changed")
			}
		})
	}
}

// TestStoreCommitsWithoutAnIncidentAsBefore: a Change without an incident goes to its
// path, whatever is there.
func TestStoreCommitsWithoutAnIncidentAsBefore(t *testing.T) {
	s, err := OpenStore(t.TempDir(), StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, _ := Render(fixtureRecord(t), nil)
	b, _ := Render(recordB(t), nil)
	if _, err := s.Commit("main", []Change{{Path: pathA, Content: a}}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Commit("main", []Change{{Path: pathA, Content: b}})
	if err != nil || res[0].Path != pathA || !res[0].Committed {
		t.Fatalf("%+v, %v", res, err)
	}
	// With the incident, the store keeps B off A's file.
	s2, err := OpenStore(t.TempDir(), StoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := s2.Commit("main", []Change{{Path: pathA, Content: a, Incident: fixtureRecord(t).Incident}}); err != nil {
		t.Fatal(err)
	}
	res, err = s2.Commit("main", []Change{{Path: pathA, Content: b, Incident: recordB(t).Incident}})
	if err != nil || res[0].Path != pathB {
		t.Fatalf("%+v, %v", res, err)
	}
	fsck(t, s2.Dir())
}

// TestReusedNameInPullRequestMode: A's pull request is still open when B resolves. B
// gets a branch and a file of its own, based on main; A's branch is untouched.
func TestReusedNameInPullRequestMode(t *testing.T) {
	remote := newBareRemote(t)
	seed(t, remote, "main", map[string]string{"README.md": "records\n"})
	base := revParse(t, remote, "main")
	srv := newForgeServer(t,
		cannedResponse{201, `{"html_url": "https://github.example/acme/records/pull/1"}`},
		cannedResponse{201, `{"html_url": "https://github.example/acme/records/pull/2"}`},
		cannedResponse{422, `{"message":"Validation Failed","errors":[{"message":"A pull request already exists for acme:` + branchB + `."}]}`},
	)
	forge, err := NewForge(v1alpha1.Forge{Type: v1alpha1.ForgeGitHub, APIURL: srv.URL, Project: "acme/records"}, "token", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := openRepo(t, Options{URL: fileURL(remote), Mode: v1alpha1.CommitPullRequest, Forge: forge})

	resA := commitOne(t, r, prepare(t, r, fixtureRecord(t)))
	if resA.Branch != branchA || resA.Path != pathA {
		t.Fatalf("A: %+v", resA)
	}
	chB := prepare(t, r, recordB(t))
	resB := commitOne(t, r, chB)
	if resB.Branch != branchB || resB.Path != pathB || !resB.Committed || resB.PullRequestURL != "https://github.example/acme/records/pull/2" {
		t.Fatalf("B: %+v", resB)
	}
	if revParse(t, remote, "refs/heads/"+branchA) != resA.Commit {
		t.Error("B moved A's branch")
	}
	if revParse(t, remote, "refs/heads/"+branchB+"^") != base {
		t.Error("B's branch is not one commit on main")
	}
	if show(t, remote, "refs/heads/"+branchB, pathB) != string(chB.Content) {
		t.Error("B's record is not on its branch")
	}
	reqs := srv.got()
	if len(reqs) != 2 || reqs[1].Body["head"] != branchB || !strings.Contains(reqs[1].Body["body"].(string), "`"+pathB+"`") {
		t.Fatalf("pull requests %+v", reqs)
	}

	// B again: no commit, the same branch and file.
	again := commitOne(t, r, chB)
	if again.Committed || again.Branch != branchB || again.Path != pathB || again.Commit != resB.Commit {
		t.Errorf("B again: %+v", again)
	}
	fsck(t, remote)
}

func TestChangePaths(t *testing.T) {
	for _, tc := range []struct {
		path, uid string
		want      []string
	}{
		{pathA, uidB, []string{pathA, pathB, "postmortems/2026/acme/checkout-db-leak-" + uidB + ".md"}},
		{"records/x", uidB, []string{"records/x", "records/x-1a2b3c4d", "records/x-" + uidB}},
		{"a.b/x.tar.md", "abc", []string{"a.b/x.tar.md", "a.b/x.tar-abc.md"}},
		{pathA, "", []string{pathA}},
		{pathA, "../../etc", []string{pathA}},
		{pathA, "1a2b/3c4d", []string{pathA}},
	} {
		got := Change{Path: tc.path, Incident: IncidentRef{UID: tc.uid}}.Paths()
		if strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s with uid %q: %q, want %q", tc.path, tc.uid, got, tc.want)
		}
	}
}
