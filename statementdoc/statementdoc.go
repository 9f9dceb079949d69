// Package statementdoc is a monthly billing statement as a document to keep or
// send: the statement model (model.go: its sections, totals, labels and number
// formats) and the A4 PDF (pdf.go). The printable HTML page (views.StatementHTML)
// and the web page render the same model, so all three show the same content with
// the same numbers; the amounts come from the statement itself.
package statementdoc
