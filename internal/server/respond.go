package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// writeJSON answers with a JSON body. Every answer to an SDK carries JSON:
// the Rust core treats an empty body as a failure and resends.
func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"success":false,"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}

type errorBody struct {
	Success bool   `json:"success"`
	Error   string `json:"error"`
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

func writeRetryLater(w http.ResponseWriter, after time.Duration, msg string) {
	w.Header().Set("Retry-After", strconv.Itoa(int(max(after.Seconds(), 1))))
	writeError(w, http.StatusServiceUnavailable, msg)
}
