package export

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Render writes one statement as a document (statementdoc.PDF or views.StatementHTML).
type Render func(w io.Writer, st ledger.Statement) error

// DocumentFailure is a statement whose document could not be written.
type DocumentFailure struct {
	Number, GroupSlug string
	Err               error
}

// DocumentsError is what Documents returns when some statements could not be
// written: every other statement's file was written.
type DocumentsError struct {
	Written int
	Failed  []DocumentFailure
}

func (e *DocumentsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d of %d statements not written:", len(e.Failed), len(e.Failed)+e.Written)
	for _, f := range e.Failed {
		fmt.Fprintf(&b, "\n  %s (%s): %v", f.Number, f.GroupSlug, f.Err)
	}
	return b.String()
}

// Unwrap lets errors.Is and errors.As see each statement's error.
func (e *DocumentsError) Unwrap() []error {
	out := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		out[i] = f.Err
	}
	return out
}

// DocumentName is the file a statement's document is written to: NUMBER-SLUG.EXT.
func DocumentName(st ledger.Statement, ext string) string {
	return st.Number + "-" + st.GroupSlug + "." + ext
}

// Documents writes one document per statement into dir (DocumentName), and
// returns the paths written. One statement that cannot be rendered — an error,
// or a panic in render — never stops the export half-way: the others are still
// written, and the error, a *DocumentsError, names each one that failed. Each
// file is written under a temporary name and renamed when complete, so a failed
// statement leaves no half file behind. Only a cancelled ctx stops early.
func Documents(ctx context.Context, dir, ext string, sts []ledger.Statement, render Render) ([]string, error) {
	var written []string
	var failed []DocumentFailure
	for _, st := range sts {
		if err := ctx.Err(); err != nil {
			return written, fmt.Errorf("export stopped after %d of %d statements: %w", len(written)+len(failed), len(sts), err)
		}
		path := filepath.Join(dir, DocumentName(st, ext))
		if err := writeDocument(path, st, render); err != nil {
			failed = append(failed, DocumentFailure{Number: st.Number, GroupSlug: st.GroupSlug, Err: err})
			continue
		}
		written = append(written, path)
	}
	if len(failed) > 0 {
		return written, &DocumentsError{Written: len(written), Failed: failed}
	}
	return written, nil
}

// writeDocument renders st into path through a temporary file in the same
// folder, renamed into place only when complete.
func writeDocument(path string, st ledger.Statement, render Render) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := safeRender(f, st, render); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// errPanic marks a renderer that panicked.
var errPanic = errors.New("renderer panicked")

// safeRender turns a panic in render (a bug in it or in a library it uses) into
// this statement's error rather than ending the whole export.
func safeRender(w io.Writer, st ledger.Statement, render Render) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("render statement %s: %w: %v", st.Number, errPanic, r)
		}
	}()
	return render(w, st)
}
