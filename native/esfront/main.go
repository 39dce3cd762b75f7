// Command esfront is a TEST-ONLY front for the native Elasticsearch of `make native-up` and the
// e2e tests. docker compose never uses it: the official image answers GET / itself.
//
// Why it exists: the only Elasticsearch build on Maven Central is the "integ-test-zip", which
// lacks the rest-root module, so GET / answers 405 (checked on 9.5.4). Filebeat (and others)
// call GET / on connect to learn the version. esfront listens where clients expect
// Elasticsearch, answers GET / and HEAD / with the root document assembled from the node's
// own APIs, and reverse-proxies every other request unchanged, streaming, with keep-alive.
//
// Security stays meaningful: the caller's Authorization header is used for the node-info
// requests behind GET /, so an unauthenticated caller gets Elasticsearch's own 401.
//
//	esfront -listen 127.0.0.1:9200 -upstream http://127.0.0.1:9201
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"time"
)

func main() {
	listen := flag.String("listen", envOr("ESFRONT_LISTEN", "127.0.0.1:9200"), "address to listen on (env ESFRONT_LISTEN)")
	upstream := flag.String("upstream", envOr("ESFRONT_UPSTREAM", "http://127.0.0.1:9201"), "Elasticsearch URL (env ESFRONT_UPSTREAM)")
	var static StaticVersions
	flag.StringVar(&static.Lucene, "lucene-version", os.Getenv("ESFRONT_LUCENE_VERSION"), "lucene_version to report; omitted when empty")
	flag.StringVar(&static.MinimumWire, "min-wire-compat", os.Getenv("ESFRONT_MIN_WIRE_COMPAT"), "minimum_wire_compatibility_version to report; omitted when empty")
	flag.StringVar(&static.MinimumIndex, "min-index-compat", os.Getenv("ESFRONT_MIN_INDEX_COMPAT"), "minimum_index_compatibility_version to report; omitted when empty")
	flag.Parse()

	target, err := url.Parse(*upstream)
	if err != nil || target.Scheme == "" || target.Host == "" {
		log.Fatalf("esfront: -upstream %q is not an absolute URL", *upstream)
	}
	server := &http.Server{
		Addr:              *listen,
		Handler:           NewHandler(target, static),
		ReadHeaderTimeout: 10 * time.Second,
	}
	log.Printf("esfront: listening on %s, proxying to %s", *listen, target)
	log.Fatal(server.ListenAndServe())
}

// NewHandler routes GET / and HEAD / to the root document and everything else to upstream.
func NewHandler(upstream *url.URL, static StaticVersions) http.Handler {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	// Filebeat runs several bulk workers; keep their upstream connections alive, not just two.
	transport.MaxIdleConnsPerHost = 32

	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(upstream)
			// Forward the query as received: depending on the go.mod version, Go re-encodes
			// it (':' becomes %3A), which changes what Elasticsearch logs and caches.
			pr.Out.URL.RawQuery = pr.In.URL.RawQuery
			pr.Out.Host = pr.In.Host
		},
		Transport:     transport,
		FlushInterval: -1, // pass bytes on as they arrive (chunked search/bulk responses)
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			log.Printf("esfront: %s %s: %v", r.Method, r.URL.Path, err)
			writeError(w, r, http.StatusBadGateway, err)
		},
	}
	root := &rootHandler{builder: &RootBuilder{
		Upstream: upstream,
		Client:   &http.Client{Transport: transport},
		Static:   static,
	}}

	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			root.ServeHTTP(w, r)
			return
		}
		proxy.ServeHTTP(w, r)
	})
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
