// Package web serves the web console. The console is a TypeScript app
// (React, Vite) whose sources are in this folder; `make web` builds it into
// web/dist, and the binary embeds whatever dist holds when it is built. The
// repository commits only dist/.gitkeep, so `go build` works without Node; a
// binary built before the console was serves a page saying so.
package web

import (
	"embed"
	"io"
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
	if _, err := fs.Stat(root, "index.html"); err != nil {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, notBuilt)
		return
	}
	http.ServeFileFS(w, r, root, "index.html")
}

// notBuilt is the page served in place of a console that was not built.
const notBuilt = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>jobgraph</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;color:#222}code{background:#f3f3f3;padding:0 .3em}</style>
</head>
<body>
<h1>jobgraph</h1>
<p>The server is running, but the web console is not built into this binary: run <code>make web</code>, then build the binary again (<code>make run</code> does both).</p>
<p>The API is at <a href="/graphql"><code>/graphql</code></a>.</p>
</body>
</html>
`
