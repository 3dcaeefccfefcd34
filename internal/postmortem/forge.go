package postmortem

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/klaxon-ops/klaxon/api/v1alpha1"
)

// PullRequest asks a forge to merge Head into Base.
type PullRequest struct {
	// Title of the pull request.
	Title string
	// Body (description), Markdown.
	Body string
	// Head is the branch with the record.
	Head string
	// Base is the branch to merge into.
	Base string
}

// Forge opens pull (GitHub) or merge (GitLab) requests.
type Forge interface {
	// OpenPullRequest opens pr and returns its web URL. A request that already exists
	// for the branch is success (the URL may then be empty): the branch was updated and
	// the open request shows the update.
	OpenPullRequest(ctx context.Context, pr PullRequest) (string, error)
}

// maxForgeResponse bounds how much of a forge's answer is read.
const maxForgeResponse = 1 << 20

// NewForge returns the client for spec's forge type, authenticating with token (the
// "token" key of the forge's Secret). httpClient may be nil for a client with a timeout.
func NewForge(spec v1alpha1.Forge, token string, httpClient *http.Client) (Forge, error) {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: 30 * time.Second}
	}
	if token == "" {
		return nil, configError("configure forge", errors.New("the forge Secret has no token"))
	}
	api, err := url.Parse(strings.TrimRight(spec.APIURL, "/"))
	if err != nil || (api.Scheme != "https" && api.Scheme != "http") || api.Host == "" {
		return nil, configError("configure forge", fmt.Errorf("apiURL %q is not an http(s) URL", spec.APIURL))
	}
	switch spec.Type {
	case v1alpha1.ForgeGitHub:
		owner, repo, ok := strings.Cut(spec.Project, "/")
		if !ok || owner == "" || repo == "" || strings.Contains(repo, "/") {
			return nil, configError("configure forge", fmt.Errorf("GitHub project %q is not owner/repo", spec.Project))
		}
		return &GitHub{APIURL: api.String(), Owner: owner, Repo: repo, token: token, client: httpClient}, nil
	case v1alpha1.ForgeGitLab:
		if spec.Project == "" {
			return nil, configError("configure forge", errors.New("GitLab project is empty"))
		}
		// The API root is .../api/v4; accept the instance URL alone too.
		if api.Path == "" {
			api.Path = "/api/v4"
		}
		return &GitLab{APIURL: api.String(), Project: spec.Project, token: token, client: httpClient}, nil
	}
	return nil, configError("configure forge", fmt.Errorf("forge type %q is not supported (GitHub, GitLab)", spec.Type))
}

// GitHub opens pull requests through the GitHub REST API.
type GitHub struct {
	// APIURL is the API root, e.g. https://api.github.com or https://ghe.example/api/v3.
	APIURL string
	// Owner and Repo name the repository.
	Owner, Repo string
	token       string
	client      *http.Client
}

// OpenPullRequest creates a pull request (POST /repos/{owner}/{repo}/pulls).
func (g *GitHub) OpenPullRequest(ctx context.Context, pr PullRequest) (string, error) {
	body := map[string]string{"title": pr.Title, "head": pr.Head, "base": pr.Base, "body": pr.Body}
	endpoint := fmt.Sprintf("%s/repos/%s/%s/pulls", g.APIURL, url.PathEscape(g.Owner), url.PathEscape(g.Repo))
	status, resp, err := postJSON(ctx, g.client, endpoint, body, map[string]string{
		"Authorization":        "Bearer " + g.token,
		"Accept":               "application/vnd.github+json",
		"X-GitHub-Api-Version": "2022-11-28",
	})
	if err != nil {
		return "", err
	}
	var out struct {
		HTMLURL string `json:"html_url"`
		Message string `json:"message"`
		Errors  []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	_ = json.Unmarshal(resp, &out)
	if status == http.StatusCreated || status == http.StatusOK {
		return out.HTMLURL, nil
	}
	if status == http.StatusUnprocessableEntity {
		for _, e := range out.Errors {
			if strings.Contains(e.Message, "A pull request already exists") {
				return "", nil
			}
		}
	}
	return "", forgeError(status, firstNonEmpty(out.Message, string(resp)))
}

// GitLab opens merge requests through the GitLab REST API.
type GitLab struct {
	// APIURL is the API root, e.g. https://gitlab.example.com/api/v4.
	APIURL string
	// Project is the project's path (group/project) or numeric id.
	Project string
	token   string
	client  *http.Client
}

// OpenPullRequest creates a merge request (POST /projects/{id}/merge_requests).
func (g *GitLab) OpenPullRequest(ctx context.Context, pr PullRequest) (string, error) {
	body := map[string]string{
		"source_branch": pr.Head,
		"target_branch": pr.Base,
		"title":         pr.Title,
		"description":   pr.Body,
	}
	// The project path is one URL segment: group/project travels as group%2Fproject.
	endpoint := fmt.Sprintf("%s/projects/%s/merge_requests", g.APIURL, url.PathEscape(g.Project))
	status, resp, err := postJSON(ctx, g.client, endpoint, body, map[string]string{"PRIVATE-TOKEN": g.token})
	if err != nil {
		return "", err
	}
	var out struct {
		WebURL  string `json:"web_url"`
		Message any    `json:"message"`
	}
	_ = json.Unmarshal(resp, &out)
	switch status {
	case http.StatusCreated, http.StatusOK:
		return out.WebURL, nil
	case http.StatusConflict:
		// "Another open merge request already exists for this source branch".
		return "", nil
	}
	return "", forgeError(status, fmt.Sprint(firstNonNil(out.Message, string(resp))))
}

func postJSON(ctx context.Context, c *http.Client, endpoint string, body any, headers map[string]string) (int, []byte, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, nil, fmt.Errorf("open pull request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(b))
	if err != nil {
		return 0, nil, configError("open pull request", err)
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, &Error{Kind: Transient, Op: "open pull request", Err: err}
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(io.LimitReader(resp.Body, maxForgeResponse))
	if err != nil {
		return 0, nil, &Error{Kind: Transient, Op: "open pull request", Err: err}
	}
	return resp.StatusCode, rb, nil
}

func forgeError(status int, msg string) error {
	kind := Permanent
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		kind = Auth
	case status == http.StatusTooManyRequests || status >= 500:
		kind = Transient
	}
	return &Error{Kind: kind, Op: "open pull request", Err: fmt.Errorf("forge answered %d: %s", status, truncate(strings.TrimSpace(msg), 300))}
}

func firstNonNil(a, b any) any {
	if a != nil {
		return a
	}
	return b
}
