package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// One error path. Handlers return an error; fail answers it, the same way on every
// route: a mistake in the request (400), something not there or not for this person
// (404), not allowed (403), a change the ledger refuses (409, with its reason), and
// anything else (500, logged once with the request id). Pages get a page, the API
// gets JSON ({"error": "…"}), a form gets its reason and a way back.

// handler answers a request, or returns why it could not.
type handler func(w http.ResponseWriter, r *http.Request) error

// handle makes h an http.HandlerFunc that answers h's error with fail.
func (s *Server) handle(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			s.fail(w, r, err)
		}
	}
}

// badInput is a mistake in what the request asked for, with a reason safe and
// useful to show: 400, never a silent default.
type badInput struct{ reason string }

func (e *badInput) Error() string { return e.reason }

func badInputf(format string, args ...any) error {
	return &badInput{fmt.Sprintf(format, args...)}
}

// forbidden is a request the person may not make, with why: 403.
type forbidden struct{ why string }

func (e *forbidden) Error() string { return e.why }

func forbiddenf(format string, args ...any) error { return &forbidden{fmt.Sprintf(format, args...)} }

// errNotFound is a page that is not there, or not for this person: 404. Groups a
// person may not see are not found, so their names cannot be probed.
var errNotFound = fmt.Errorf("page: %w", ledger.ErrNotFound)

// formError is a mistake in a submitted form, with the status to answer: the
// person sees the reason, and nothing is logged as a failure.
type formError struct {
	code int
	msg  string
}

func (e *formError) Error() string { return e.msg }

func badForm(format string, args ...any) error {
	return &formError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// page is where a form came from and goes back to.
type page struct{ path, name string }

// formFailed is a form's POST that did not take: err says why, back where to go.
type formFailed struct {
	back page
	err  error
}

func (e *formFailed) Error() string { return e.err.Error() }
func (e *formFailed) Unwrap() error { return e.err }

// finish ends a form's POST: on success a redirect back to its page with done as
// the query; otherwise err, which fail shows with a link back.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, back page, done url.Values, err error) error {
	if err != nil {
		return &formFailed{back, err}
	}
	target := back.path
	if len(done) > 0 {
		target += "?" + done.Encode()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
	return nil
}

// status is the HTTP status for err and the reason to show; "" means the reason
// must not be shown (an internal error).
func status(err error) (int, string) {
	var (
		bad  *badInput
		fe   *formError
		deny *forbidden
	)
	switch {
	case errors.As(err, &bad):
		return http.StatusBadRequest, bad.reason
	case errors.As(err, &fe):
		return fe.code, fe.msg
	case errors.As(err, &deny):
		return http.StatusForbidden, deny.why
	case errors.Is(err, ledger.ErrTooLarge):
		// Money beyond the documented maxima (docs/billing.md, "Limits"): the books
		// need a correction, not the server. The log names the group and the line;
		// the reply does not, as it may be another group's statement.
		return http.StatusConflict, "This cannot be computed: an amount is beyond the documented maximum " +
			"(docs/billing.md, Limits). The server's log says which; finance can correct the rate or the usage."
	case errors.Is(err, ledger.ErrConflict):
		return http.StatusConflict, ledgerReason(err)
	case errors.Is(err, ledger.ErrInvalid):
		return http.StatusBadRequest, ledgerReason(err)
	case errors.Is(err, ledger.ErrNotFound):
		return http.StatusNotFound, ""
	}
	return http.StatusInternalServerError, ""
}

// fail answers err for the route: JSON for the API, a page for people, the form's
// page with a way back for a form.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code, reason := status(err)
	var form *formFailed
	isForm := errors.As(err, &form)
	if isForm && code == http.StatusNotFound {
		// A form naming something that is not there (a user, a rate) is a
		// mistake in the form: its page exists.
		code, reason = http.StatusBadRequest, ledgerReason(err)
	}
	switch {
	case code == http.StatusInternalServerError:
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path,
			"request_id", middleware.GetReqID(r.Context()), "err", err)
		reason = "Internal error."
	case errors.Is(err, ledger.ErrTooLarge):
		s.log.Warn("amount beyond the documented maximum", "method", r.Method, "path", r.URL.Path,
			"request_id", middleware.GetReqID(r.Context()), "err", err)
	}
	if isAPI(r) {
		if code == http.StatusNotFound {
			reason = "not found"
		}
		writeJSON(w, code, map[string]string{"error": reason})
		return
	}
	var c templ.Component
	switch {
	case isForm && code != http.StatusInternalServerError:
		c = views.AdminError(views.AdminErrorPage{Layout: s.layout(r, "Not saved"),
			Reason: reason, Back: form.back.path, BackName: form.back.name})
	case code == http.StatusNotFound:
		c = views.Message(s.layout(r, "Not found"), "Not found",
			"There is nothing here, or nothing you may see. Your groups are on the home page.")
	case code == http.StatusForbidden:
		c = views.Message(s.layout(r, "Not allowed"), "Not allowed", "Sorry: "+reason+".")
	case code == http.StatusBadRequest:
		c = views.Message(s.layout(r, "Bad request"), "That cannot be shown",
			"The address asks for something that cannot be: "+reason+".")
	}
	// 409 and 500 are plain text, as a page's render may be what failed; so is
	// any page that cannot be rendered.
	if c == nil || s.renderStatus(w, r, code, c) != nil {
		http.Error(w, reason, code)
	}
}

// ledgerReason is the ledger's explanation of a refused change, without the
// sentinel's own word.
func ledgerReason(err error) string {
	msg := err.Error()
	for _, sentinel := range []error{ledger.ErrConflict, ledger.ErrNotFound, ledger.ErrInvalid} {
		msg = strings.TrimSuffix(msg, ": "+sentinel.Error())
		msg = strings.ReplaceAll(msg, sentinel.Error()+": ", "")
	}
	return "The ledger refused the change: " + msg + "."
}

// apiError answers an API request that never reached a handler (no or a bad
// token) with code and msg as JSON.
func (s *Server) apiError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
