package debugger

import (
	"embed"
	"io/fs"
	"net/http"
)

// ui holds the pages, built into the binary: `go build` alone makes a
// working UI.
//
//go:embed ui
var ui embed.FS

// pages serves index.html at / and the folder at /ui/.
func pages() http.Handler {
	sub, err := fs.Sub(ui, "ui")
	if err != nil {
		panic(err) // the embed directive guarantees the folder
	}
	files := http.StripPrefix("/ui/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.URL.Path == "/" {
			http.ServeFileFS(w, r, sub, "index.html")
			return
		}
		files.ServeHTTP(w, r)
	})
}
