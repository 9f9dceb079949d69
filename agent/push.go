package agent

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/usagebatch"
)

// Client posts usage batches to the server's ingest API
// (POST {server}/api/v1/usage, docs/ingest-api.md).
type Client struct {
	url       string
	tokenFile string
	timeout   time.Duration
	http      *http.Client
	userAgent string
}

// NewClient makes a client for server (its base URL, "https://parsimony.example.edu")
// that reads its bearer token from tokenFile on every request (so a rotated
// token is used without a restart) and gives each request at most timeout.
func NewClient(server, tokenFile string, timeout time.Duration, version string) *Client {
	return &Client{
		url:       strings.TrimRight(server, "/") + "/api/v1/usage",
		tokenFile: tokenFile,
		timeout:   timeout,
		http:      &http.Client{},
		userAgent: "parsimony-agent/" + version,
	}
}

// PushAnswer is the server's answer to an accepted batch (the fields the agent
// uses of it).
type PushAnswer struct {
	Read        int64 `json:"read"`
	Quarantined int64 `json:"quarantined"`
	Rejected    []struct {
		Index  int    `json:"index"`
		Reason string `json:"reason"`
	} `json:"rejected"`
}

// PushError is a push that failed, classified by what the agent should do
// about it.
type PushError struct {
	// Code is the HTTP status ("503"), or "network" or "timeout" when no answer came.
	Code string
	// Message is the server's {"error": …} text, or the transport's error.
	Message string
	// RetryAfter is the server's Retry-After (429, 503), 0 when it gave none.
	RetryAfter time.Duration
	// Refused means the server will never accept this batch as it is (400,
	// 401, 403, 413, 415: a bad token, a token bound to another host, a body
	// it cannot read): retrying soon is pointless, and the batch stays spooled
	// until an admin fixes the cause.
	Refused bool
}

func (e *PushError) Error() string {
	if e.Code == "network" || e.Code == "timeout" {
		return "push: " + e.Message
	}
	return fmt.Sprintf("push: server answered %s: %s", e.Code, e.Message)
}

// Post sends one batch (at most usagebatch.MaxRecords records, whose JSON is
// under usagebatch.MaxBodyBytes; the spool's batches are) gzip-compressed.
func (c *Client) Post(ctx context.Context, recs []usagebatch.Record) (PushAnswer, error) {
	token, err := c.token()
	if err != nil {
		return PushAnswer{}, err
	}
	body, err := encodeBatch(recs)
	if err != nil {
		return PushAnswer{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return PushAnswer{}, fmt.Errorf("push: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("User-Agent", c.userAgent)
	resp, err := c.http.Do(req)
	if err != nil {
		code := "network"
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			code = "timeout"
		}
		return PushAnswer{}, &PushError{Code: code, Message: err.Error()}
	}
	defer resp.Body.Close()
	// Answers are small; a megabyte is more than any the server writes.
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		code := "network"
		if errors.Is(err, context.DeadlineExceeded) {
			code = "timeout"
		}
		return PushAnswer{}, &PushError{Code: code, Message: "reading the answer: " + err.Error()}
	}
	if resp.StatusCode == http.StatusOK {
		var a PushAnswer
		if err := json.Unmarshal(data, &a); err != nil {
			// The batch was stored (200); an unreadable answer does not undo that.
			return PushAnswer{Read: int64(len(recs))}, nil
		}
		return a, nil
	}
	e := &PushError{Code: strconv.Itoa(resp.StatusCode), Message: serverMessage(data, resp.Status)}
	switch resp.StatusCode {
	case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden,
		http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
		e.Refused = true
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		e.RetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	default:
		// Other 4xx are as final as the ones above; 5xx and the rest are the
		// server's trouble, retried with backoff.
		e.Refused = resp.StatusCode >= 400 && resp.StatusCode < 500
	}
	return PushAnswer{}, e
}

// token reads the bearer token.
func (c *Client) token() (string, error) {
	data, err := os.ReadFile(c.tokenFile)
	if err != nil {
		return "", fmt.Errorf("push: read the token: %w", err)
	}
	t := strings.TrimSpace(string(data))
	if t == "" {
		return "", fmt.Errorf("push: the token file %s is empty", c.tokenFile)
	}
	return t, nil
}

// encodeBatch writes {"records": [...]} gzip-compressed.
func encodeBatch(recs []usagebatch.Record) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if err := json.NewEncoder(zw).Encode(usagebatch.Batch{Records: recs}); err != nil {
		return nil, fmt.Errorf("push: encode batch: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("push: compress batch: %w", err)
	}
	return buf.Bytes(), nil
}

// serverMessage is the {"error": …} of an answer, or its start as text.
func serverMessage(data []byte, status string) string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil && e.Error != "" {
		return e.Error
	}
	msg := strings.TrimSpace(string(data))
	if len(msg) > 200 {
		msg = msg[:200] + "…"
	}
	if msg == "" {
		return status
	}
	return msg
}

// parseRetryAfter reads Retry-After as seconds or an HTTP date; 0 when absent
// or unreadable.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs < 0 {
			return 0
		}
		return time.Duration(min(secs, 24*3600)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}
