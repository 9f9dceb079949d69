// Package static holds the web app's CSS and icons, embedded in the binary and
// served under content-hashed names so browsers may cache them for a year.
package static

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"
)

//go:embed files
var embedded embed.FS

type asset struct {
	body        []byte
	contentType string
}

// Assets maps each file to its hashed URL and serves it.
type Assets struct {
	urls   map[string]string // "app.css" → "/static/app.1a2b3c4d5e.css"
	byPath map[string]asset  // "app.1a2b3c4d5e.css" → content
}

// New hashes the embedded files once, at start-up.
func New() (*Assets, error) {
	a := &Assets{urls: map[string]string{}, byPath: map[string]asset{}}
	err := fs.WalkDir(embedded, "files", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := embedded.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(body)
		name := strings.TrimPrefix(p, "files/")
		ext := path.Ext(name)
		hashed := strings.TrimSuffix(name, ext) + "." + hex.EncodeToString(sum[:5]) + ext
		a.urls[name] = "/static/" + hashed
		a.byPath[hashed] = asset{body: body, contentType: mime.TypeByExtension(ext)}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("hash static files: %w", err)
	}
	return a, nil
}

// URL is the hashed URL of an embedded file; it panics on a name that does not
// exist, which is a programming error caught by any test that renders the page.
func (a *Assets) URL(name string) string {
	u, ok := a.urls[name]
	if !ok {
		panic("static: no file " + name)
	}
	return u
}

// ServeHTTP serves /static/NAME.HASH.EXT; the content never changes under a name,
// so it may be cached for a year.
func (a *Assets) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := a.byPath[strings.TrimPrefix(r.URL.Path, "/static/")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(f.body)
}
