package server

import (
	"net/http"
	"slices"
	"strings"
)

// corsHeaders are the headers the JS client sets on event posts; a browser
// asks (preflight) before sending them cross-origin.
const corsHeaders = "Content-Type, Content-Encoding, STATSIG-API-KEY, STATSIG-CLIENT-TIME, STATSIG-EVENT-COUNT, " +
	"STATSIG-RETRY-COUNT, STATSIG-SDK-TYPE, STATSIG-SDK-VERSION, STATSIG-SERVER-SESSION-ID, STATSIG-ENCODED"

// cors lets browsers (the JS client) post events from the listed origins.
// The SDK key authenticates, never a cookie, so no credentials are allowed
// and "*" is a safe default.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" || len(s.cfg.CORSOrigins) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		allowed := slices.Contains(s.cfg.CORSOrigins, "*") || slices.ContainsFunc(s.cfg.CORSOrigins, func(o string) bool {
			return strings.EqualFold(strings.TrimRight(o, "/"), origin)
		})
		if allowed {
			h := w.Header()
			h.Set("Access-Control-Allow-Origin", origin)
			h.Add("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			if !allowed {
				writeError(w, http.StatusForbidden, "origin "+origin+" is not in intake.cors_origins")
				return
			}
			h := w.Header()
			h.Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			h.Set("Access-Control-Allow-Headers", corsHeaders)
			h.Set("Access-Control-Max-Age", "86400")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
