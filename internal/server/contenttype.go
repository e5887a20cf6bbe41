package server

import (
	"fmt"
	"mime"
	"net/http"
	"strings"
)

// checkContentType refuses, with 415 naming the type, a body whose
// Content-Type says it is something other than JSON text. What the SDKs
// send passes: application/json (Go, statsig-node, the Rust core),
// text/plain;charset=UTF-8 (the js-client uncompressed, and sendBeacon),
// none (the js-client gzipped); so do application/octet-stream and the
// compression types (a compressed body labelled as bytes), any +json type,
// and application/x-www-form-urlencoded, curl's default for --data-binary.
// The check happens before the body is read, so a refused body costs
// nothing.
func (s *Server) checkContentType(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if msg := contentTypeProblem(r.Header.Get("Content-Type")); msg != "" {
			s.metrics.rejectedRequests.WithLabelValues("unsupported_content_type").Inc()
			writeError(w, http.StatusUnsupportedMediaType, msg)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// contentTypeProblem says what is wrong with a Content-Type, or "".
func contentTypeProblem(ct string) string {
	if strings.TrimSpace(ct) == "" {
		return ""
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Sprintf("Content-Type %q does not parse (%v); send application/json", ct, err)
	}
	switch {
	case mt == "application/json", mt == "text/json", strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"),
		mt == "text/plain", mt == "application/octet-stream",
		mt == "application/gzip", mt == "application/x-gzip", mt == "application/zstd",
		mt == "application/x-www-form-urlencoded":
	default:
		return fmt.Sprintf("unsupported Content-Type %q: the bridge reads Statsig's JSON event bodies; send application/json (text/plain and none are accepted too)", mt)
	}
	if cs, ok := params["charset"]; ok {
		switch strings.ToLower(cs) {
		case "utf-8", "utf8", "us-ascii":
		default:
			return fmt.Sprintf("unsupported charset %q in Content-Type %q: JSON bodies are UTF-8", cs, ct)
		}
	}
	return ""
}
