// Package statementdoc renders a monthly billing statement as a document to keep
// or send: a standalone, printable HTML page (HTML) and an A4 PDF (PDF). Both show
// the same content with the same numbers; the sections, labels and number
// formats come from package views (StatementSections, StatementSummary,
// StatementQuantity, …), the amounts from the statement itself.
package statementdoc

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/parsimony-hpc/parsimony/ledger"
	"github.com/parsimony-hpc/parsimony/views"
)

// HTML writes st as a standalone HTML page: styles inline, nothing loaded from
// elsewhere, laid out for printing on A4 or Letter. Nothing is written if the page
// cannot be rendered.
func HTML(w io.Writer, siteName string, st ledger.Statement) error {
	var buf bytes.Buffer
	err := views.StatementDocument(views.StatementDocProps{SiteName: siteName, Statement: st}).Render(context.Background(), &buf)
	if err != nil {
		return fmt.Errorf("render statement %s as HTML: %w", st.Number, err)
	}
	if _, err := buf.WriteTo(w); err != nil {
		return fmt.Errorf("write statement %s as HTML: %w", st.Number, err)
	}
	return nil
}
