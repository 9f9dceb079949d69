package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/parsimony-hpc/parsimony/seed"
	"github.com/parsimony-hpc/parsimony/server"
)

// The end-to-end tests drive the web app in headless Chromium as its people use
// it — a PI, a lab member, finance and an admin — over the seeded demo
// institution: they sign in from the demo sign-in page, click through the pages,
// and fail on a status they did not expect, a console error, an uncaught
// exception, a Content-Security-Policy violation, or a page wider than the window.
// Every page is saved as a full-page PNG to $PARSIMONY_SCREENSHOTS, or else to
// the test's artifact directory (kept with go test -artifacts).

// e2eNow is newFixture's clock: the demo's history ends there, and the server
// reports "this month" from it.
var e2eNow = time.Date(2026, 11, 15, 12, 0, 0, 0, time.UTC)

// e2eTimeout bounds each scenario; e2eWait bounds one wait for an element, so a
// missing element fails in seconds rather than at the scenario's end.
const (
	e2eTimeout = 90 * time.Second
	e2eWait    = 10 * time.Second
)

// e2eEnv is what the scenarios share: the seeded app and one running browser.
type e2eEnv struct {
	f       fixture
	browser context.Context // a chromedp context whose browser has started
	shots   string          // where screenshots go
}

func TestE2E(t *testing.T) {
	e := newE2E(t)
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *e2eTab)
	}{{"PI", e2ePI}, {"Member", e2eMember}, {"Finance", e2eFinance}, {"Admin", e2eAdmin}} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, e.tab(t))
		})
	}
}

// newE2E starts Chromium, then seeds the demo institution into a fresh ledger
// behind a demo-login server.
func newE2E(t *testing.T) *e2eEnv {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		path, err = exec.LookPath("chromium-browser")
	}
	if err != nil {
		t.Fatal("the end-to-end tests need Chromium (chromium or chromium-browser on PATH): run ./scripts/install-deps.sh")
	}
	// One deadline for the whole run, browser included, so nothing can hang; each
	// tab has its own (e2eTimeout). The scenarios run in parallel with the
	// package's other parallel tests, which on a loaded two-core machine take
	// minutes before them: the bound is for a hang, not for a slow machine.
	ctx, cancel := context.WithTimeout(context.Background(), 12*time.Minute)
	t.Cleanup(cancel)
	opts := append(slices.Clone(chromedp.DefaultExecAllocatorOptions[:]),
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1280, 900),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}

	f := newFixture(t, server.AuthOptions{DemoLogin: true})
	began := time.Now()
	sum, err := seed.Run(ctx, f.l, seed.Options{Scale: seed.ScaleDemo, Months: 2, RandomSeed: 1, Now: e2eNow,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("seed: %v", err)
	}
	t.Logf("seeded %d groups, %d users, %d jobs in %s", sum.Groups, sum.Users, sum.Jobs, time.Since(began).Round(time.Millisecond))

	shots := os.Getenv("PARSIMONY_SCREENSHOTS")
	if shots == "" {
		shots = t.ArtifactDir()
	} else if err := os.MkdirAll(shots, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", shots)
	return &e2eEnv{f: f, browser: browser, shots: shots}
}

// e2eTab is one scenario's browser tab, in a browser context of its own (its own
// cookies), with the problems the page reported since the last check.
type e2eTab struct {
	t   *testing.T
	e   *e2eEnv
	ctx context.Context

	mu       sync.Mutex
	problems []e2eProblem
}

// e2eProblem is something a page reported going wrong.
type e2eProblem struct {
	msg string
	doc string // for a failed request: its URL
}

func (e *e2eEnv) tab(t *testing.T) *e2eTab {
	tb := &e2eTab{t: t, e: e}
	ctx, cancel := chromedp.NewContext(e.browser, chromedp.WithNewBrowserContext(), chromedp.WithListener(tb.listen))
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, e2eTimeout)
	t.Cleanup(cancelTimeout)
	tb.ctx = ctx
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1280, 900)); err != nil {
		t.Fatalf("open a tab: %v", err)
	}
	return tb
}

// listen runs in the tab's event loop: it only notes what went wrong.
func (tb *e2eTab) listen(ev any) {
	var msg, doc string
	switch ev := ev.(type) {
	case *cdpruntime.EventConsoleAPICalled:
		if ev.Type == cdpruntime.ConsoleAPICalledTypeError {
			var args []string
			for _, a := range ev.Args {
				if a.Description != "" {
					args = append(args, a.Description)
				} else {
					args = append(args, string(a.Value))
				}
			}
			msg = "console.error: " + strings.Join(args, " ")
		}
	case *cdpruntime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg = "uncaught exception: " + d.Text
		if d.Exception != nil {
			msg += " " + d.Exception.Description
		}
		msg += fmt.Sprintf(" at %s:%d", d.URL, d.LineNumber+1)
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level == cdplog.EntryLevelError {
			msg = fmt.Sprintf("browser log (%s): %s", ev.Entry.Source, ev.Entry.Text)
			if ev.Entry.URL != "" {
				msg += " [" + ev.Entry.URL + "]"
			}
			if ev.Entry.Source == cdplog.EntrySourceNetwork {
				doc = ev.Entry.URL
			}
		}
	}
	if msg != "" {
		tb.mu.Lock()
		tb.problems = append(tb.problems, e2eProblem{msg: msg, doc: doc})
		tb.mu.Unlock()
	}
}

// check fails the test for every problem the page reported, and for a page wider
// than the window. The browser logs an error status of the page itself too (403,
// 404): the caller checks that status, so it is not a problem here.
func (tb *e2eTab) check(page string) {
	tb.t.Helper()
	tb.mu.Lock()
	problems := tb.problems
	tb.problems = nil
	tb.mu.Unlock()
	for _, p := range problems {
		if p.doc != "" && (p.doc == tb.e.f.srv.URL+page || p.doc == tb.e.f.srv.URL+"/favicon.ico") {
			continue // the page's status is checked by the caller, the icon by e2ePI
		}
		tb.t.Errorf("%s: %s", page, p.msg)
	}
	overflow := tb.eval(`(() => {
		const w = document.documentElement.clientWidth, sw = document.documentElement.scrollWidth;
		if (sw <= w) return [];
		const out = [sw + "px wide in a " + w + "px window"];
		for (const el of document.querySelectorAll("body *")) {
			const r = el.getBoundingClientRect();
			if (r.right > w + 1 && r.width > 0 && out.length < 6) {
				const cls = typeof el.className === "string" && el.className ? "." + el.className.trim().split(/\s+/).join(".") : "";
				out.push(el.tagName.toLowerCase() + cls + " (right edge " + Math.round(r.right) + "px)");
			}
		}
		return out;
	})()`)
	var over []string
	if err := json.Unmarshal(overflow, &over); err != nil {
		tb.t.Fatalf("%s: overflow check: %v", page, err)
	}
	if len(over) > 0 {
		tb.t.Errorf("%s: the page overflows the window to the right: %s", page, strings.Join(over, "; "))
	}
}

// loaded checks the page that just loaded and saves its screenshot as name.png
// (no screenshot when name is empty).
func (tb *e2eTab) loaded(name string, resp *network.Response, want int) {
	tb.t.Helper()
	page := tb.location()
	if resp == nil {
		tb.t.Fatalf("%s: no response", page)
	}
	if resp.Status != int64(want) {
		tb.t.Errorf("%s: status %d, want %d", page, resp.Status, want)
	}
	tb.check(page)
	if name == "" {
		return
	}
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100)) // quality 100 is PNG
	if err != nil {
		tb.t.Fatalf("%s: screenshot: %v", page, err)
	}
	if err := os.WriteFile(filepath.Join(tb.e.shots, name+".png"), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

// open navigates to path and expects the status want.
func (tb *e2eTab) open(name, path string, want int) {
	tb.t.Helper()
	resp, err := chromedp.Run(tb.ctx, chromedp.NavigateResponse(tb.e.f.srv.URL+path))
	if err != nil {
		tb.t.Fatalf("open %s: %v", path, err)
	}
	tb.loaded(name, resp, want)
}

// follow clicks what the CSS selector finds (a link or a submit button) and
// waits for the page it leads to.
func (tb *e2eTab) follow(name, css string) {
	tb.t.Helper()
	e2eFollow(tb, name, chromedp.CSS(css))
}

// e2eFollow is follow for any kind of selector.
func e2eFollow[S chromedp.Selectable](tb *e2eTab, name string, sel S) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, e2eWait)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(sel)); err != nil {
		tb.t.Fatalf("%s: nothing to click at %v: %v", tb.location(), sel, err)
	}
	resp, err := chromedp.RunResponse(tb.ctx, chromedp.Click(sel))
	if err != nil {
		tb.t.Fatalf("%s: click %v: %v", tb.location(), sel, err)
	}
	tb.loaded(name, resp, http.StatusOK)
}

// waitVisible fails unless the CSS selector finds a visible element soon.
func (tb *e2eTab) waitVisible(css string) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, e2eWait)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS(css))); err != nil {
		tb.t.Errorf("%s: %s is not visible: %v", tb.location(), css, err)
	}
}
