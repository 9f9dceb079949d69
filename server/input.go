package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/parsimony-hpc/parsimony/views"
)

// Limits on what a request may carry. Every page's parameters are short (periods,
// dates, slugs, sort keys) and every form is a few fields typed by a person; a
// request over these is a mistake or an attack, and is refused before any handler
// or query sees it.
const (
	maxQueryBytes = 4096     // the whole query string
	maxFormBytes  = 64 << 10 // a urlencoded form body
	maxFieldBytes = 8192     // one form field (a reason, a description)
)

// checkInput refuses, with 400 (413 for a form body over maxFormBytes) and the
// reason, a request whose path, query or form holds what no page asks for: invalid
// UTF-8, NUL or other control characters, or more bytes than the limits. Without
// it such values reached PostgreSQL, which cannot store them, and came back as 500s;
// and a 9 MB group name was accepted and made /admin 66 MB.
func (s *Server) checkInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if reason := checkRequest(w, r); reason != "" {
			code := http.StatusBadRequest
			if strings.HasPrefix(reason, tooLargePrefix) {
				code = http.StatusRequestEntityTooLarge
			}
			s.inputRefused(w, r, code, reason)
			return
		}
		next.ServeHTTP(w, r)
	})
}

const tooLargePrefix = "the form is larger than"

// checkRequest returns why r is refused, or "". It parses a urlencoded form body
// (bounded), so handlers read the already-checked r.PostForm.
func checkRequest(w http.ResponseWriter, r *http.Request) string {
	if reason := checkText("the path", r.URL.Path, false); reason != "" {
		return reason
	}
	if n := len(r.URL.RawQuery); n > maxQueryBytes {
		return fmt.Sprintf("the query string is %d bytes; at most %d are read", n, maxQueryBytes)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "the query string cannot be read: " + err.Error()
	}
	if reason := checkValues("parameter", q, false); reason != "" {
		return reason
	}
	ct := r.Header.Get("Content-Type")
	if r.Method == http.MethodPost && strings.HasPrefix(ct, "application/x-www-form-urlencoded") {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		if err := r.ParseForm(); err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return fmt.Sprintf("%s %d KiB", tooLargePrefix, maxFormBytes>>10)
			}
			return "the form cannot be read"
		}
		if reason := checkValues("field", r.PostForm, true); reason != "" {
			return reason
		}
	}
	return ""
}

func checkValues(what string, vs url.Values, multiline bool) string {
	for k, values := range vs {
		if reason := checkText(what+" name", k, false); reason != "" {
			return reason
		}
		for _, v := range values {
			if len(v) > maxFieldBytes {
				return fmt.Sprintf("%s %q is %d bytes long; at most %d are taken", what, printable(k), len(v), maxFieldBytes)
			}
			if reason := checkText(fmt.Sprintf("%s %q", what, printable(k)), v, multiline); reason != "" {
				return reason
			}
		}
	}
	return ""
}

// checkText says what is wrong with a text value, or "": it must be valid UTF-8
// without NUL or other control characters (tabs and line breaks allowed where a
// form's text area may hold them).
func checkText(what, v string, multiline bool) string {
	if !utf8.ValidString(v) {
		return what + " is not valid UTF-8 text"
	}
	for _, c := range v {
		if c == 0 {
			return what + " holds a NUL byte"
		}
		if (c < 0x20 || c == 0x7f) && !(multiline && (c == '\t' || c == '\n' || c == '\r')) {
			return fmt.Sprintf("%s holds the control character U+%04X", what, c)
		}
	}
	return ""
}

// printable is a parameter's name as it may be shown back: valid UTF-8, short.
func printable(k string) string {
	k = strings.ToValidUTF8(k, "\uFFFD")
	if utf8.RuneCountInString(k) > 40 {
		k = string([]rune(k)[:40]) + "…"
	}
	return k
}

// inputRefused answers a refused request as JSON for the API and as a page for
// people (with no principal yet: input is checked before sign-in is read).
func (s *Server) inputRefused(w http.ResponseWriter, r *http.Request, code int, reason string) {
	if isAPI(r) {
		s.apiError(w, code, reason)
		return
	}
	s.renderStatus(w, r, code, views.Message(s.layout(r, "Bad request"), "That cannot be taken",
		"The request was refused: "+reason+"."))
}
