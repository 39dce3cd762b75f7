package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

const testAuth = "Basic ZWxhc3RpYzpzZWNyZXQ=" // elastic:secret

// fakeNode imitates the node APIs esfront reads; it requires testAuth like a secured node
// and echoes any other request so the proxy path can be checked.
func fakeNode(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != testAuth {
			w.Header().Set("WWW-Authenticate", `Basic realm="security"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"missing authentication credentials","status":401}`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Elastic-Product", "Elasticsearch")
		switch r.URL.Path {
		case "/_nodes/_local":
			io.WriteString(w, `{"nodes":{"abc123":{"name":"node-1","version":"9.5.4",
				"build_flavor":"default","build_type":"zip","build_hash":"deadbeef"}}}`)
		case "/_cluster/state/metadata":
			io.WriteString(w, `{"cluster_name":"trackstack","metadata":{"cluster_uuid":"uuid-1"}}`)
		case "/_xpack":
			io.WriteString(w, `{"build":{"hash":"deadbeef","date":"2026-09-09T22:42:53Z"}}`)
		default:
			body, _ := io.ReadAll(r.Body)
			json.NewEncoder(w).Encode(map[string]string{
				"method": r.Method, "path": r.URL.RequestURI(), "body": string(body),
			})
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newFront(t *testing.T, static StaticVersions) *httptest.Server {
	t.Helper()
	upstream, _ := url.Parse(fakeNode(t).URL)
	front := httptest.NewServer(NewHandler(upstream, static))
	t.Cleanup(front.Close)
	return front
}

func do(t *testing.T, method, url, auth, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestRootDocumentIsBuiltFromNodeInfo(t *testing.T) {
	front := newFront(t, StaticVersions{Lucene: "10.5.1"})
	resp := do(t, http.MethodGet, front.URL+"/", testAuth, "")

	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	if got := resp.Header.Get("X-Elastic-Product"); got != "Elasticsearch" {
		t.Errorf("X-Elastic-Product = %q", got)
	}
	var doc RootDocument
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	want := RootDocument{
		Name: "node-1", ClusterName: "trackstack", ClusterUUID: "uuid-1",
		Version: VersionInfo{
			Number: "9.5.4", BuildFlavor: "default", BuildType: "zip", BuildHash: "deadbeef",
			BuildDate: "2026-09-09T22:42:53Z", LuceneVersion: "10.5.1",
		},
		Tagline: "You Know, for Search",
	}
	if doc != want {
		t.Errorf("root document\n got %+v\nwant %+v", doc, want)
	}
}

func TestRootDocumentOmitsUnknownVersions(t *testing.T) {
	front := newFront(t, StaticVersions{})
	resp := do(t, http.MethodGet, front.URL+"/", testAuth, "")
	body, _ := io.ReadAll(resp.Body)

	for _, field := range []string{"lucene_version", "minimum_wire_compatibility_version"} {
		if strings.Contains(string(body), field) {
			t.Errorf("%s present without a value: %s", field, body)
		}
	}
}

func TestHeadRootHasHeadersButNoBody(t *testing.T) {
	front := newFront(t, StaticVersions{})
	resp := do(t, http.MethodHead, front.URL+"/", testAuth, "")
	body, _ := io.ReadAll(resp.Body)

	if resp.StatusCode != http.StatusOK || len(body) != 0 || resp.ContentLength <= 0 {
		t.Errorf("HEAD /: status %d, %d body bytes, Content-Length %d", resp.StatusCode, len(body), resp.ContentLength)
	}
}

func TestRootWithoutCredentialsRelaysUpstream401(t *testing.T) {
	front := newFront(t, StaticVersions{})
	resp := do(t, http.MethodGet, front.URL+"/", "", "")

	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status = %d, want 401", resp.StatusCode)
	}
	if resp.Header.Get("WWW-Authenticate") == "" {
		t.Error("WWW-Authenticate not relayed")
	}
}

func TestOtherRequestsAreProxiedUnchanged(t *testing.T) {
	front := newFront(t, StaticVersions{})
	resp := do(t, http.MethodPost, front.URL+"/trackstack-logs-*/_search?q=tracking_id:abc", testAuth, `{"size":1}`)

	var echo map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&echo); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"method": "POST", "path": "/trackstack-logs-*/_search?q=tracking_id:abc", "body": `{"size":1}`}
	for k, v := range want {
		if echo[k] != v {
			t.Errorf("%s = %q, want %q", k, echo[k], v)
		}
	}
}

func TestUnreachableUpstreamGives502(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	upstream, _ := url.Parse(dead.URL)
	dead.Close()
	front := httptest.NewServer(NewHandler(upstream, StaticVersions{}))
	defer front.Close()

	for _, path := range []string{"/", "/_cluster/health"} {
		if resp := do(t, http.MethodGet, front.URL+path, testAuth, ""); resp.StatusCode != http.StatusBadGateway {
			t.Errorf("GET %s: status = %d, want 502", path, resp.StatusCode)
		}
	}
}
