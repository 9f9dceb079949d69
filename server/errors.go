package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5/middleware"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// Answering what went wrong: internal errors (logged once, shown as little), not
// found, forbidden, a bad request with its reason (a page, or JSON for the API), and
// a form's mistakes.

// serverError logs the detail and shows the user only that something went wrong.
func (s *Server) serverError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ledger.ErrTooLarge) {
		// Money beyond the documented maxima (docs/billing.md, "Limits"): the books
		// need a correction, not the server. The log names the group and the line;
		// the reply does not, as it may be another group's statement.
		s.log.Warn("amount beyond the documented maximum", "method", r.Method, "path", r.URL.Path,
			"request_id", middleware.GetReqID(r.Context()), "err", err)
		http.Error(w, "This cannot be computed: an amount is beyond the documented maximum "+
			"(docs/billing.md, Limits). The server's log says which; finance can correct the rate or the usage.", http.StatusConflict)
		return
	}
	s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "request_id", middleware.GetReqID(r.Context()), "err", err)
	http.Error(w, "Internal error.", http.StatusInternalServerError)
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	if isAPI(r) {
		s.apiError(w, http.StatusNotFound, "not found")
		return
	}
	s.renderStatus(w, r, http.StatusNotFound, views.Message(s.layout(r, "Not found"), "Not found",
		"There is nothing here, or nothing you may see. Your groups are on the home page."))
}

// badRequest answers a mistake in the request with 400 and the reason, as JSON
// for the API and as a page for people.
func (s *Server) badRequest(w http.ResponseWriter, r *http.Request, reason string) {
	if isAPI(r) {
		s.apiError(w, http.StatusBadRequest, reason)
		return
	}
	s.renderStatus(w, r, http.StatusBadRequest, views.Message(s.layout(r, "Bad request"), "That cannot be shown",
		"The address asks for something that cannot be: "+reason+"."))
}

// requestFailed answers err: a *badInput with 400 and its reason, anything else
// as an internal error.
func (s *Server) requestFailed(w http.ResponseWriter, r *http.Request, err error) {
	var bad *badInput
	if errors.As(err, &bad) {
		s.badRequest(w, r, bad.reason)
		return
	}
	s.serverError(w, r, err)
}

func (s *Server) forbidden(w http.ResponseWriter, r *http.Request, why string) {
	if isAPI(r) {
		s.apiError(w, http.StatusForbidden, why)
		return
	}
	s.renderStatus(w, r, http.StatusForbidden, views.Message(s.layout(r, "Not allowed"), "Not allowed", "Sorry: "+why+"."))
}

func (s *Server) apiError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

// badInput is a mistake in what the request asked for, with a reason safe and
// useful to show: the handler answers 400 with it, never a silent default.
type badInput struct{ reason string }

func (e *badInput) Error() string { return e.reason }

func badInputf(format string, args ...any) error {
	return &badInput{fmt.Sprintf(format, args...)}
}

// formError is a mistake in a submitted form: the person sees the reason, with the
// status, and nothing is logged as a failure.
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

// finish answers a form's POST: on success a redirect back to its page with done
// as the query; on a mistake the reason; anything else is an internal error.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, back page, done url.Values, err error) {
	var fe *formError
	switch {
	case err == nil:
		target := back.path
		if len(done) > 0 {
			target += "?" + done.Encode()
		}
		http.Redirect(w, r, target, http.StatusSeeOther)
	case errors.As(err, &fe):
		s.formFailed(w, r, fe.code, fe.msg, back)
	case errors.Is(err, ledger.ErrConflict):
		s.formFailed(w, r, http.StatusConflict, ledgerReason(err), back)
	case errors.Is(err, ledger.ErrNotFound), errors.Is(err, ledger.ErrInvalid):
		s.formFailed(w, r, http.StatusBadRequest, ledgerReason(err), back)
	default:
		s.serverError(w, r, err)
	}
}

func (s *Server) formFailed(w http.ResponseWriter, r *http.Request, code int, reason string, back page) {
	s.renderStatus(w, r, code, views.AdminError(views.AdminErrorPage{Layout: s.layout(r, "Not saved"),
		Reason: reason, Back: back.path, BackName: back.name}))
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
