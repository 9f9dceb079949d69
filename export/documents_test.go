package export_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parsimony-hpc/parsimony/export"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// TestDocumentsOneFailureDoesNotStopTheExport: of five statements, one whose
// renderer fails and one whose renderer panics (as fpdf did on an emoji) are
// reported by number; the three others are written whole, and no half file of
// the failed ones is left behind.
func TestDocumentsOneFailureDoesNotStopTheExport(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var sts []ledger.Statement
	for i := 1; i <= 5; i++ {
		sts = append(sts, ledger.Statement{Number: fmt.Sprintf("202610-%04d", i), GroupSlug: fmt.Sprintf("lab%d", i)})
	}
	errBroken := errors.New("the font is broken")
	render := func(w io.Writer, st ledger.Statement) error {
		io.WriteString(w, "half a document of "+st.Number)
		switch st.Number {
		case "202610-0002":
			return errBroken
		case "202610-0004":
			var widths []int
			_ = widths[0x1F9EC] // an index out of range, as fpdf's width table did
		}
		_, err := io.WriteString(w, " and the rest")
		return err
	}
	written, err := export.Documents(context.Background(), dir, "pdf", sts, render)
	var derr *export.DocumentsError
	if !errors.As(err, &derr) {
		t.Fatalf("err = %v, want a *DocumentsError", err)
	}
	if !errors.Is(err, errBroken) {
		t.Errorf("the renderer's error is not kept: %v", err)
	}
	var failed []string
	for _, f := range derr.Failed {
		failed = append(failed, f.Number+" "+f.GroupSlug)
	}
	if !slices.Equal(failed, []string{"202610-0002 lab2", "202610-0004 lab4"}) || derr.Written != 3 {
		t.Errorf("failed %q, written %d", failed, derr.Written)
	}
	msg := err.Error()
	for _, want := range []string{"2 of 5 statements not written", "202610-0002 (lab2): the font is broken", "202610-0004 (lab4)", "panicked", "index out of range"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the error does not say %q:\n%s", want, msg)
		}
	}
	var want []string
	for _, n := range []int{1, 3, 5} {
		want = append(want, filepath.Join(dir, fmt.Sprintf("202610-%04d-lab%d.pdf", n, n)))
	}
	if !slices.Equal(written, want) {
		t.Errorf("written %q, want %q", written, want)
	}
	for _, path := range want {
		b, err := os.ReadFile(path)
		if err != nil || !strings.HasSuffix(string(b), " and the rest") {
			t.Errorf("%s: %q, %v", path, b, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("the folder holds %q, want only the three statements written", names)
	}
}

// A cancelled export stops, and says after how many statements.
func TestDocumentsCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	sts := []ledger.Statement{{Number: "1", GroupSlug: "a"}, {Number: "2", GroupSlug: "b"}}
	written, err := export.Documents(ctx, t.TempDir(), "html", sts, func(w io.Writer, st ledger.Statement) error {
		cancel()
		return nil
	})
	if len(written) != 1 || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "after 1 of 2") {
		t.Errorf("written %q, err %v", written, err)
	}
}
