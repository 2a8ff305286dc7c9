// Package web serves the web console. The console is a TypeScript app built
// into web/dist; the binary embeds whatever dist holds when it is built. The
// repository commits only a placeholder index.html, so `go build` works
// without Node; `make web` builds the real console.
package web

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed all:dist
var dist embed.FS

// Handler serves the console: files from dist, and index.html for any other
// path so that the single-page app's routes survive a reload. Hashed assets
// under /assets/ are cached for a year; index.html never is.
func Handler() http.Handler {
	root, _ := fs.Sub(dist, "dist") // "dist" exists: it is embedded
	files := http.FileServerFS(root)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(path.Clean(r.URL.Path), "/")
		if name == "" || name == "index.html" {
			serveIndex(w, r, root)
			return
		}
		if _, err := fs.Stat(root, name); err != nil {
			serveIndex(w, r, root)
			return
		}
		if strings.HasPrefix(name, "assets/") {
			w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
		}
		files.ServeHTTP(w, r)
	})
}

func serveIndex(w http.ResponseWriter, r *http.Request, root fs.FS) {
	w.Header().Set("Cache-Control", "no-cache")
	http.ServeFileFS(w, r, root, "index.html")
}
