package main

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// runHealthcheck asks a running server whether it is ready, for container health
// checks in images that carry no curl.
func runHealthcheck(ctx context.Context, e *env, args []string) error {
	fs := newFlags(e, "healthcheck", "[--url URL]")
	url := fs.String("url", "http://127.0.0.1:8080/readyz", "the server's readiness URL")
	if err := parseFlagsOnly(e, fs, args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", *url, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", *url, resp.Status)
	}
	fmt.Fprintln(e.stdout, "ready")
	return nil
}
