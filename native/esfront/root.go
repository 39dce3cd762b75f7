package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// RootDocument is what a full Elasticsearch answers on GET /. Field order follows the real one.
type RootDocument struct {
	Name        string      `json:"name"`
	ClusterName string      `json:"cluster_name"`
	ClusterUUID string      `json:"cluster_uuid"`
	Version     VersionInfo `json:"version"`
	Tagline     string      `json:"tagline"`
}

// VersionInfo is the "version" object of the root document. The node's REST API exposes the
// lucene and compatibility versions nowhere, so those come from flags and are left out when
// unknown rather than invented.
type VersionInfo struct {
	Number                           string `json:"number"`
	BuildFlavor                      string `json:"build_flavor"`
	BuildType                        string `json:"build_type"`
	BuildHash                        string `json:"build_hash"`
	BuildDate                        string `json:"build_date,omitempty"`
	BuildSnapshot                    bool   `json:"build_snapshot"`
	LuceneVersion                    string `json:"lucene_version,omitempty"`
	MinimumWireCompatibilityVersion  string `json:"minimum_wire_compatibility_version,omitempty"`
	MinimumIndexCompatibilityVersion string `json:"minimum_index_compatibility_version,omitempty"`
}

// StaticVersions are the version facts the node does not serve over REST (see VersionInfo).
type StaticVersions struct {
	Lucene       string
	MinimumWire  string
	MinimumIndex string
}

// forwardedHeaders are the caller's headers reused for the node-info requests, so GET / is
// allowed exactly when the caller may monitor the cluster, as on a full Elasticsearch.
var forwardedHeaders = []string{"Authorization", "Es-Security-Runas-User"}

// upstreamError is a non-2xx answer from Elasticsearch, relayed to the caller as it came.
type upstreamError struct {
	status int
	header http.Header
	body   []byte
}

func (e *upstreamError) Error() string {
	return fmt.Sprintf("upstream answered %d: %s", e.status, bytes.TrimSpace(e.body))
}

// RootBuilder assembles the root document from the node's own APIs.
type RootBuilder struct {
	Upstream *url.URL
	Client   *http.Client
	Static   StaticVersions
}

// Build asks the upstream node for its identity with the caller's credentials.
func (b *RootBuilder) Build(ctx context.Context, caller http.Header) (*RootDocument, error) {
	var nodes struct {
		Nodes map[string]struct {
			Name        string `json:"name"`
			Version     string `json:"version"`
			BuildFlavor string `json:"build_flavor"`
			BuildType   string `json:"build_type"`
			BuildHash   string `json:"build_hash"`
		} `json:"nodes"`
	}
	if err := b.getJSON(ctx, caller, "/_nodes/_local?filter_path=nodes.*.name,nodes.*.version,nodes.*.build_*", &nodes); err != nil {
		return nil, err
	}
	if len(nodes.Nodes) != 1 {
		return nil, fmt.Errorf("expected exactly one local node, got %d", len(nodes.Nodes))
	}

	var state struct {
		ClusterName string `json:"cluster_name"`
		Metadata    struct {
			ClusterUUID string `json:"cluster_uuid"`
		} `json:"metadata"`
	}
	if err := b.getJSON(ctx, caller, "/_cluster/state/metadata?filter_path=metadata.cluster_uuid,cluster_name", &state); err != nil {
		return nil, err
	}

	// The build date is only in the x-pack info API; a node without it still gets a root
	// document, just without the date.
	var xpack struct {
		Build struct {
			Date string `json:"date"`
		} `json:"build"`
	}
	if err := b.getJSON(ctx, caller, "/_xpack?categories=build", &xpack); err != nil {
		log.Printf("esfront: no build date: %v", err)
	}

	doc := &RootDocument{ClusterName: state.ClusterName, ClusterUUID: state.Metadata.ClusterUUID, Tagline: "You Know, for Search"}
	for _, node := range nodes.Nodes {
		doc.Name = node.Name
		doc.Version = VersionInfo{
			Number:                           node.Version,
			BuildFlavor:                      node.BuildFlavor,
			BuildType:                        node.BuildType,
			BuildHash:                        node.BuildHash,
			BuildDate:                        xpack.Build.Date,
			BuildSnapshot:                    strings.HasSuffix(node.Version, "-SNAPSHOT"),
			LuceneVersion:                    b.Static.Lucene,
			MinimumWireCompatibilityVersion:  b.Static.MinimumWire,
			MinimumIndexCompatibilityVersion: b.Static.MinimumIndex,
		}
	}
	return doc, nil
}

func (b *RootBuilder) getJSON(ctx context.Context, caller http.Header, pathAndQuery string, into any) error {
	target, err := b.Upstream.Parse(pathAndQuery)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target.String(), nil)
	if err != nil {
		return err
	}
	for _, name := range forwardedHeaders {
		if v := caller.Values(name); len(v) > 0 {
			req.Header[name] = v
		}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := b.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return &upstreamError{status: resp.StatusCode, header: resp.Header, body: body}
	}
	return json.Unmarshal(body, into)
}

// rootHandler answers GET / and HEAD / with the root document.
type rootHandler struct {
	builder *RootBuilder
}

func (h *rootHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	doc, err := h.builder.Build(ctx, r.Header)
	if err != nil {
		if ue, ok := err.(*upstreamError); ok {
			// 401/403 and friends keep their meaning: the caller sees what ES said.
			for _, name := range []string{"Content-Type", "Www-Authenticate", "X-Elastic-Product"} {
				if v := ue.header.Values(name); len(v) > 0 {
					w.Header()[name] = v
				}
			}
			writeBody(w, r, ue.status, ue.body)
			return
		}
		log.Printf("esfront: GET / failed: %v", err)
		writeError(w, r, http.StatusBadGateway, err)
		return
	}
	body, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		writeError(w, r, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Elastic-Product", "Elasticsearch")
	writeBody(w, r, http.StatusOK, append(body, '\n'))
}

// writeError answers in Elasticsearch's error shape, so clients parse it as usual.
func writeError(w http.ResponseWriter, r *http.Request, status int, err error) {
	body, _ := json.Marshal(map[string]any{
		"error":  map[string]string{"type": "esfront_exception", "reason": err.Error()},
		"status": status,
	})
	w.Header().Set("Content-Type", "application/json")
	writeBody(w, r, status, body)
}

func writeBody(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}
