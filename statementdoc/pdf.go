package statementdoc

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"codeberg.org/go-pdf/fpdf"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// Page geometry in mm: A4 portrait with 15 mm margins, a running header above the
// top margin from the second page on, and a footer band below bottomLimit.
const (
	pageW       = 210.0
	pageH       = 297.0
	margin      = 15.0
	contentW    = pageW - 2*margin
	footerTop   = pageH - 14 // the footer's rule
	bottomLimit = footerTop - 3
	cellPad     = 1.5 // horizontal padding inside table cells
	bodySize    = 8.5 // table text, in points
)

// Greys (0–255). The PDF uses no colour: it reads the same printed in greyscale
// and for colour-blind readers, and says everything in words (DRAFT, minus signs).
const (
	ink   = 17
	muted = 75
	rule  = 175
	head  = 228 // table header background
	tint  = 243 // section heading background
)

// defaultFontDir holds DejaVu Sans, which covers far more than Latin-1. Without
// it the PDF falls back to the core Helvetica font in cp1252.
const defaultFontDir = "/usr/share/fonts/truetype/dejavu"

type pdfOptions struct {
	fontDir string // where DejaVuSans.ttf and DejaVuSans-Bold.ttf are looked for
	// compress deflates the page contents. PDF always compresses; tests turn it
	// off to find the printed numbers in the file.
	compress bool
}

// PDF writes st as an A4 PDF: the header block, the lines by kind with the
// totals, the split by subgroup and by user, and on every page a footer with the
// content hash and "Page N of M". Page contents are compressed.
//
// Any text prints: each character the font cannot draw (one above U+FFFF such as
// an emoji, a control character, invalid UTF-8) is drawn as the replacement
// character � (see glyphs.go), and nothing is written if the document cannot be
// laid out.
func PDF(w io.Writer, siteName string, st ledger.Statement) error {
	return writePDF(w, siteName, st, pdfOptions{fontDir: defaultFontDir, compress: true})
}

func writePDF(w io.Writer, siteName string, st ledger.Statement, o pdfOptions) (err error) {
	// fpdf panics on some input it does not expect (it indexed its width table
	// with emoji). Text is mapped so that it no longer does; should another such
	// case exist, this statement fails with an error instead of taking the web
	// server's request or a whole export down with it.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("lay out statement %s as PDF: fpdf panicked: %v", st.Number, r)
		}
	}()
	f, err := buildPDF(siteName, st, o)
	if err != nil {
		return err
	}
	if err := f.Output(w); err != nil {
		return fmt.Errorf("write statement %s as PDF: %w", st.Number, err)
	}
	return nil
}

// buildPDF lays the statement out twice: once to count the pages, then again
// with the count known for "Page N of M" (the footer does not change the layout).
func buildPDF(siteName string, st ledger.Statement, o pdfOptions) (*fpdf.Fpdf, error) {
	fonts, err := loadFonts(o.fontDir)
	if err != nil {
		return nil, fmt.Errorf("lay out statement %s as PDF: %w", st.Number, err)
	}
	pages := 0
	for pass := 0; ; pass++ {
		d := newDoc(siteName, st, o, fonts, pages)
		d.render()
		if err := d.pdf.Error(); err != nil {
			return nil, fmt.Errorf("lay out statement %s as PDF: %w", st.Number, err)
		}
		if pass == 1 {
			return d.pdf, nil
		}
		pages = d.pdf.PageCount()
	}
}

// fontFiles are the TrueType fonts to embed, with the characters each can
// draw; nil when they are not installed.
type fontFiles struct {
	regular, bold       []byte
	regularSet, boldSet charset
}

// loadFonts reads DejaVu Sans from dir. Fonts that are not installed are no
// error (the PDF uses a core font); fonts that are there but cannot be read are.
func loadFonts(dir string) (fontFiles, error) {
	regularPath, boldPath := filepath.Join(dir, "DejaVuSans.ttf"), filepath.Join(dir, "DejaVuSans-Bold.ttf")
	regular, err := os.ReadFile(regularPath)
	if err != nil {
		return fontFiles{}, nil
	}
	bold, err := os.ReadFile(boldPath)
	if err != nil {
		return fontFiles{}, nil
	}
	ff := fontFiles{regular: regular, bold: bold}
	if ff.regularSet, err = ttfCharset(regularPath); err != nil {
		return fontFiles{}, fmt.Errorf("read font %s: %w", regularPath, err)
	}
	if ff.boldSet, err = ttfCharset(boldPath); err != nil {
		return fontFiles{}, fmt.Errorf("read font %s: %w", boldPath, err)
	}
	return ff, nil
}

// doc is one statement being laid out.
type doc struct {
	pdf    *fpdf.Fpdf
	st     ledger.Statement
	site   string
	period string // "October 2026"
	pages  int    // total, for "Page N of M"; 0 while counting
	family string
	utf8   bool
	style  string              // the current font's: "" or "B"
	sets   map[string]charset  // what each style can draw
	encode func(string) string // printable UTF-8 to what the font takes
}

func newDoc(site string, st ledger.Statement, o pdfOptions, fonts fontFiles, pages int) *doc {
	f := fpdf.New("P", "mm", "A4", "")
	f.SetCompression(o.compress)
	f.SetCatalogSort(true)
	if !st.GeneratedAt.IsZero() { // the same statement gives the same file
		f.SetCreationDate(st.GeneratedAt)
		f.SetModificationDate(st.GeneratedAt)
	}
	period := Period(st.Period)
	f.SetTitle(infoString("Statement "+st.Number), false)
	f.SetSubject(infoString(st.GroupName+", "+period), false)
	f.SetAuthor(infoString(site), false)
	f.SetCreator("Parsimony", false)
	f.SetMargins(margin, margin, margin)
	f.SetAutoPageBreak(true, pageH-bottomLimit)
	d := &doc{pdf: f, st: st, site: site, period: period, pages: pages}
	if fonts.regular != nil {
		f.AddUTF8FontFromBytes("DejaVu", "", fonts.regular)
		f.AddUTF8FontFromBytes("DejaVu", "B", fonts.bold)
		d.family, d.utf8, d.encode = "DejaVu", true, func(s string) string { return s }
		d.sets = map[string]charset{"": fonts.regularSet, "B": fonts.boldSet}
	} else {
		d.family, d.encode = "Helvetica", f.UnicodeTranslatorFromDescriptor("")
		core := coreCharset(d.encode)
		d.sets = map[string]charset{"": core, "B": core}
	}
	f.SetHeaderFuncMode(d.runningHeader, true)
	f.SetFooterFunc(d.footer)
	return d
}

func (d *doc) render() {
	d.pdf.AddPage()
	d.head()
	d.lines()
	d.subgroups()
	d.users()
}

func (d *doc) font(style string, size float64) {
	d.style = style
	d.pdf.SetFont(d.family, style, size)
}

// tr maps s to what the current font draws (see glyphs.go), in the order it is
// drawn (bidi.go) and the encoding it takes. Every string a document draws from
// a statement goes through it (or through wrap, which does the same per line).
func (d *doc) tr(s string) string { return d.encode(visual(d.sets[d.style].printable(s))) }
func (d *doc) color(g int)        { d.pdf.SetTextColor(g, g, g) }

// text writes s in a cell of width w at the current position, without moving to
// the next line.
func (d *doc) text(w, h float64, s, align string) {
	d.pdf.CellFormat(w, h, d.tr(s), "", 0, align, false, 0, "")
}

// wrap splits s into lines that fit width w (cell padding included) in the
// current font: at spaces, else after a hyphen or slash, else inside a word too
// long for a line. The lines are ready to write (mapped and encoded for the
// font). Past maxLines the text is cut and the last line ends in an ellipsis:
// a row never breaks across pages, so a name as long as a book must not make one
// taller than a page (the HTML statement shows it whole).
func (d *doc) wrap(s string, w float64, maxLines int) []string {
	avail := w - 2*d.pdf.GetCellMargin()
	s = d.sets[d.style].printable(s)
	// Widths add up rune by rune (fpdf does not kern), so each is measured once
	// and a line is never re-measured from its start: long text wraps in linear
	// time.
	widths := map[rune]float64{}
	rw := func(r rune) float64 {
		x, ok := widths[r]
		if !ok {
			x = d.pdf.GetStringWidth(d.encode(string(r)))
			widths[r] = x
		}
		return x
	}
	width := func(x string) float64 {
		sum := 0.0
		for _, r := range x {
			sum += rw(r)
		}
		return sum
	}
	var lines []string
	line, lineW := "", 0.0
	full := func() bool { return len(lines) >= maxLines }
	flush := func() {
		lines = append(lines, strings.TrimRight(line, " "))
		line, lineW = "", 0
	}
	cut := false
tokens:
	for _, tok := range breakable(s) {
		if full() {
			cut = true
			break
		}
		trimmed := width(strings.TrimRight(tok, " "))
		if line != "" && lineW+trimmed > avail {
			flush()
			if full() {
				cut = true
				break
			}
		}
		if lineW+trimmed <= avail {
			line += tok
			lineW += width(tok)
			continue
		}
		for _, r := range tok { // a word longer than a line: cut it between characters
			x := rw(r)
			if line != "" && r != ' ' && lineW+x > avail {
				flush()
				if full() {
					cut = true
					break tokens
				}
			}
			line += string(r)
			lineW += x
		}
	}
	if !cut && (line != "" || len(lines) == 0) {
		lines = append(lines, strings.TrimRight(line, " "))
	}
	if cut {
		last := []rune(lines[len(lines)-1])
		ell := "…"
		if !d.sets[d.style].has('…') {
			ell = "..."
		}
		for len(last) > 0 && width(string(last))+width(ell) > avail {
			last = last[:len(last)-1]
		}
		lines[len(lines)-1] = strings.TrimRight(string(last), " ") + ell
	}
	for i, l := range lines {
		lines[i] = d.encode(visual(l))
	}
	return lines
}

// breakable splits s into pieces after which a line may break: each ends with a
// space, a hyphen or a slash (or s's end).
func breakable(s string) []string {
	s = strings.Join(strings.Fields(s), " ")
	var out []string
	start := 0
	for i, r := range s {
		if r == ' ' || r == '-' || r == '/' {
			out = append(out, s[start:i+1])
			start = i + 1
		}
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

func (d *doc) hrule(y, width float64, g int) {
	d.pdf.SetDrawColor(g, g, g)
	d.pdf.SetLineWidth(width)
	d.pdf.Line(margin, y, pageW-margin, y)
}

// lineHeight is the height of a line of text in points size, in mm.
func lineHeight(size float64) float64 { return size * 0.3528 * 1.35 }

// head writes the first page's header: site, title and status, the draft note,
// who and what the statement is for, and its totals.
func (d *doc) head() {
	f, st := d.pdf, d.st
	f.SetCellMargin(0)
	y := margin
	if d.site != "" {
		d.font("", 9)
		d.color(muted)
		f.SetXY(margin, y)
		d.text(contentW, 4.5, d.site, "L")
		y += 6.5
	}

	// "Statement <number>" on the left, the status badge on the right.
	draft := st.Status == "draft"
	badge, badgeSize, badgeH := strings.ToUpper(st.Status), 9.5, 6.5
	if draft {
		badge, badgeSize, badgeH = "DRAFT", 13, 8.5
	}
	d.font("B", badgeSize)
	badgeW := f.GetStringWidth(badge) + 8
	const titleH, gap = 9.0, 2.5
	size := 17.0
	var labelW, numberW float64
	for ; size > 9; size -= 0.5 { // shrink a long number until it fits beside the badge
		d.font("", size)
		labelW = f.GetStringWidth(d.tr("Statement"))
		d.font("B", size)
		numberW = f.GetStringWidth(d.tr(st.Number))
		if labelW+gap+numberW <= contentW-badgeW-5 {
			break
		}
	}
	f.SetXY(margin, y)
	d.font("", size)
	d.color(muted)
	d.text(labelW+gap, titleH, "Statement", "L")
	d.font("B", size)
	d.color(ink)
	d.text(numberW, titleH, st.Number, "L")
	f.SetXY(pageW-margin-badgeW, y+(titleH-badgeH)/2)
	d.font("B", badgeSize)
	f.SetLineWidth(0.4)
	f.SetDrawColor(ink, ink, ink)
	if draft {
		f.SetFillColor(ink, ink, ink)
		f.SetTextColor(255, 255, 255)
		f.CellFormat(badgeW, badgeH, badge, "1", 0, "C", true, 0, "")
	} else {
		d.color(ink)
		f.CellFormat(badgeW, badgeH, d.tr(badge), "1", 0, "C", false, 0, "")
	}
	y += titleH + 3

	if draft {
		y = d.draftNote(y) + 3
	}

	// Who and what on the left, the totals on the right.
	const labelCol, leftW, sumW = 25.0, 104.0, 66.0
	meta := []struct{ label, value string }{
		{"Period", d.period},
		{"Group", st.GroupName},
		{"Group path", st.GroupPath},
		{"PI", st.PI},
		{"Cost centre", st.CostCentre},
		{"Currency", st.Currency},
	}
	lh := lineHeight(9)
	yl := y
	for _, m := range meta {
		d.font("", 8.5)
		d.color(muted)
		f.SetXY(margin, yl)
		d.text(labelCol, lh, m.label, "L")
		value, style := m.value, "B"
		if value == "" {
			value, style = "none", ""
		} else {
			d.color(ink)
		}
		if m.label == "Group path" {
			style = ""
		}
		d.font(style, 9)
		for _, line := range d.wrap(value, leftW-labelCol, maxHeadLines) {
			f.SetXY(margin+labelCol, yl)
			f.CellFormat(leftW-labelCol, lh, line, "", 0, "L", false, 0, "")
			yl += lh
		}
		yl += 0.6
	}

	x := pageW - margin - sumW
	yr := y
	for _, r := range Summary(st) {
		if r.Total {
			yr += 1
			f.SetDrawColor(ink, ink, ink)
			f.SetLineWidth(0.4)
			f.Line(x, yr, x+sumW, yr)
			yr += 1.2
			d.font("B", 11)
			d.color(ink)
			h := lineHeight(11)
			f.SetXY(x, yr)
			d.text(sumW/2, h, r.Label, "L")
			amount := st.Amount(r.AmountMinor)
			d.font("B", 11)
			aw := f.GetStringWidth(amount)
			f.SetXY(x+sumW-aw, yr)
			d.text(aw, h, amount, "R")
			d.font("", 8.5)
			cw := f.GetStringWidth(d.tr(st.Currency)) + 1.5
			f.SetXY(x+sumW-aw-cw, yr+0.4)
			d.text(cw, h, st.Currency, "L")
			yr += h
			continue
		}
		d.font("", 9)
		d.color(muted)
		f.SetXY(x, yr)
		d.text(sumW*0.6, lh, r.Label, "L")
		d.color(ink)
		f.SetXY(x+sumW*0.6, yr)
		d.text(sumW*0.4, lh, st.Amount(r.AmountMinor), "R")
		yr += lh + 0.6
	}

	y = max(yl, yr) + 2.5
	d.hrule(y, 0.6, ink)
	f.SetXY(margin, y+2)
}

// draftNote writes the note that a draft may change, in a dashed box, and
// returns where the box ends.
func (d *doc) draftNote(y float64) float64 {
	f := d.pdf
	const pad = 2.5
	text := " Computed from the usage recorded so far: amounts may change until " + d.period +
		" is closed. This is not an invoice."
	// Write flows text between the margins: narrow them to the box for a while.
	f.SetLeftMargin(margin + pad)
	f.SetRightMargin(margin + pad)
	f.SetXY(margin+pad, y+pad)
	h := lineHeight(9)
	d.color(ink)
	d.font("B", 9)
	f.Write(h, d.tr("Draft."))
	d.font("", 9)
	f.Write(h, d.tr(text))
	end := f.GetY() + h + pad
	f.SetLeftMargin(margin)
	f.SetRightMargin(margin)
	f.SetDrawColor(ink, ink, ink)
	f.SetLineWidth(0.35)
	f.SetDashPattern([]float64{1.2, 0.8}, 0)
	f.Rect(margin, y, contentW, end-y, "D")
	f.SetDashPattern(nil, 0)
	return end
}

// A table: its columns, and rows laid out cell by cell.
type column struct {
	title string
	width float64 // mm; a table's widths add up to contentW
	align string  // "L" or "R"
}

type table struct{ cols []column }

type cell struct {
	text   string
	span   int     // columns covered; 0 means 1
	align  string  // "" for the column's
	indent float64 // mm before the text
	nowrap bool    // a number: made smaller to fit rather than wrapped
	muted  bool
}

type rowStyle struct {
	bold      bool
	size      float64 // points; 0 for bodySize
	fill      int     // background grey; 0 for none
	ruleAbove bool    // a dark rule above the row
	ruleBelow bool    // a dark rule below it instead of a light one
	double    bool    // a double rule below it (the total due)
	header    bool    // the table's header: never starts a page itself
}

const rowPad = 1.0 // vertical padding of a table row, mm

// The most lines a value takes: in the header block (which is not paginated)
// and in a table cell (a row must fit on a page, about 60 lines of body text).
const (
	maxHeadLines = 6
	maxCellLines = 40
)

// rowHeight is the height of a one-line row.
func rowHeight(size float64) float64 { return lineHeight(size) + 2*rowPad }

// ensure starts a new page unless h mm fit above the footer; t's header is
// repeated on the new page (t may be nil).
func (d *doc) ensure(t *table, h float64) {
	if d.pdf.GetY()+h > bottomLimit && d.pdf.GetY() > margin+1 {
		d.pdf.AddPage()
		if t != nil {
			d.header(t)
		}
	}
}

func (d *doc) header(t *table) {
	cells := make([]cell, len(t.cols))
	for i, c := range t.cols {
		cells[i] = cell{text: c.title, nowrap: true}
	}
	d.row(t, cells, rowStyle{bold: true, fill: head, ruleAbove: true, ruleBelow: true, header: true})
}

// row writes one table row at the current position, on a new page (with the
// header repeated) if it does not fit on this one. A row never breaks across
// pages.
func (d *doc) row(t *table, cells []cell, s rowStyle) {
	f := d.pdf
	size := s.size
	if size == 0 {
		size = bodySize
	}
	style := ""
	if s.bold {
		style = "B"
	}
	f.SetCellMargin(cellPad)
	type placed struct {
		x, w  float64
		lines []string
		align string
		size  float64
		muted bool
	}
	var ps []placed
	x, col, n := margin, 0, 1
	for _, c := range cells {
		span := max(c.span, 1)
		w := 0.0
		for _, cl := range t.cols[col : col+span] {
			w += cl.width
		}
		p := placed{x: x + c.indent, w: w - c.indent, align: c.align, size: size, muted: c.muted}
		if p.align == "" {
			p.align = t.cols[col].align
		}
		d.font(style, size)
		if c.nowrap {
			for p.size > 5.5 && f.GetStringWidth(d.tr(c.text))+2*cellPad > p.w {
				p.size -= 0.25
				d.font(style, p.size)
			}
			p.lines = []string{d.tr(c.text)}
		} else {
			p.lines = d.wrap(c.text, p.w, maxCellLines)
		}
		n = max(n, len(p.lines))
		ps = append(ps, p)
		x += w
		col += span
	}
	lh := lineHeight(size)
	h := float64(n)*lh + 2*rowPad
	if !s.header {
		d.ensure(t, h)
	}
	y := f.GetY()
	if s.fill != 0 {
		f.SetFillColor(s.fill, s.fill, s.fill)
		f.Rect(margin, y, contentW, h, "F")
	}
	if s.ruleAbove {
		d.hrule(y, 0.35, ink)
	}
	for _, p := range ps {
		d.font(style, p.size)
		if p.muted {
			d.color(muted)
		} else {
			d.color(ink)
		}
		for i, line := range p.lines {
			f.SetXY(p.x, y+rowPad+float64(i)*lh+(lh-lineHeight(p.size))/2)
			f.CellFormat(p.w, lineHeight(p.size), line, "", 0, p.align, false, 0, "")
		}
	}
	switch {
	case s.double:
		d.hrule(y+h, 0.3, ink)
		d.hrule(y+h+0.7, 0.3, ink)
		h += 0.7
	case s.ruleBelow:
		d.hrule(y+h, 0.35, ink)
	default:
		d.hrule(y+h, 0.15, rule)
	}
	f.SetXY(margin, y+h)
}

// heading starts a section: its title and a note, kept on a page with the
// table's header and the first rows of its body, or all of a short one.
func (d *doc) heading(title, note string, rows int) {
	f := d.pdf
	if rows > 8 {
		rows = 3
	}
	d.ensure(nil, 7+5+float64(rows+1)*rowHeight(bodySize)+1)
	f.SetCellMargin(0)
	y := f.GetY() + 6
	f.SetXY(margin, y)
	d.font("B", 12)
	d.color(ink)
	d.text(contentW, 6, title, "L")
	y += 6.5
	if note != "" {
		f.SetXY(margin, y)
		d.font("", 8)
		d.color(muted)
		d.text(contentW, 4, note, "L")
		y += 5
	}
	f.SetXY(margin, y+0.5)
}

func (d *doc) lines() {
	st := d.st
	t := &table{cols: []column{
		{"Description", 61, "L"},
		{"Cluster", 26, "L"},
		{"Quantity", 23, "R"},
		{"Unit", 20, "L"},
		{"Unit price", 23, "R"},
		{"Amount (" + st.Currency + ")", 27, "R"},
	}}
	d.heading("Charges", "", len(st.Lines)+1)
	d.header(t)
	if len(st.Lines) == 0 {
		d.row(t, []cell{{text: "No usage, subsidies or adjustments in this period.", span: 6, muted: true}}, rowStyle{})
	}
	for _, sec := range Sections(st) {
		d.ensure(t, 2*rowHeight(bodySize)+2) // a heading with at least one line under it
		d.row(t, []cell{{text: sec.Title, span: 6}}, rowStyle{bold: true, fill: tint})
		for _, ln := range sec.Lines {
			price := cell{text: UnitPrice(ln.UnitPrice), nowrap: true}
			if Unpriced(ln) {
				price = cell{text: "no rate", nowrap: true, muted: true}
			}
			d.row(t, []cell{
				{text: ln.Description},
				{text: ln.Cluster},
				{text: Quantity(ln.Quantity), nowrap: true},
				{text: ln.Unit},
				price,
				{text: st.Amount(ln.AmountMinor), nowrap: true},
			}, rowStyle{})
		}
	}
	for i, r := range Summary(st) {
		label := cell{text: r.Label, span: 5, align: "R"}
		amount := cell{text: st.Amount(r.AmountMinor), nowrap: true}
		if r.Total {
			d.row(t, []cell{label, amount}, rowStyle{bold: true, size: 9.5, ruleAbove: true, double: true})
		} else {
			d.row(t, []cell{label, amount}, rowStyle{ruleAbove: i == 0})
		}
	}
}

func (d *doc) subgroups() {
	st := d.st
	if len(st.Subgroups) == 0 {
		return
	}
	t := &table{cols: []column{
		{"Group", 104, "L"},
		{"Short name", 44, "L"},
		{"Amount (" + st.Currency + ")", 32, "R"},
	}}
	d.heading("By subgroup", "Usage charges before subsidies and adjustments. Each amount includes its subgroups.",
		len(st.Subgroups))
	d.header(t)
	for _, g := range st.Subgroups {
		depth := min(max(g.Depth, 0), 12)
		d.row(t, []cell{
			{text: g.Name, indent: 4 * float64(depth)},
			{text: g.Slug, muted: true},
			{text: st.Amount(g.AmountMinor), nowrap: true},
		}, rowStyle{bold: g.Depth == 0})
	}
}

func (d *doc) users() {
	st := d.st
	if len(st.Users) == 0 {
		return
	}
	t := &table{cols: []column{
		{"User", 104, "L"},
		{"Login", 44, "L"},
		{"Amount (" + st.Currency + ")", 32, "R"},
	}}
	d.heading("By user", "Usage charges before subsidies and adjustments.", len(st.Users)+1)
	d.header(t)
	var sum int64
	for _, u := range st.Users {
		d.row(t, []cell{
			{text: u.Name},
			{text: u.Slug, muted: true},
			{text: st.Amount(u.AmountMinor), nowrap: true},
		}, rowStyle{})
		sum += u.AmountMinor
	}
	d.row(t, []cell{{text: "All users", span: 2, align: "R"}, {text: st.Amount(sum), nowrap: true}},
		rowStyle{bold: true, ruleAbove: true})
}

// runningHeader names the statement at the top of every page after the first.
func (d *doc) runningHeader() {
	f := d.pdf
	if f.PageNo() == 1 {
		return
	}
	f.SetCellMargin(0)
	d.font("", 8)
	d.color(muted)
	left := d.tr("Statement " + d.st.Number + " · " + d.st.GroupName + " · " + d.period)
	site := d.tr(d.site)
	if f.GetStringWidth(left) > contentW {
		left = d.tr("Statement " + d.st.Number + " · " + d.period)
	}
	lw, sw := f.GetStringWidth(left), f.GetStringWidth(site)
	f.SetXY(margin, 8)
	f.CellFormat(lw, 4, left, "", 0, "L", false, 0, "")
	if site != "" && lw+sw+8 <= contentW { // the site's name when there is room for it
		f.SetXY(pageW-margin-sw, 8)
		f.CellFormat(sw, 4, site, "", 0, "R", false, 0, "")
	}
	d.hrule(12.5, 0.15, rule)
}

// footer writes when the statement was generated, its content hash and the page
// number at the bottom of every page.
func (d *doc) footer() {
	f := d.pdf
	f.SetCellMargin(0)
	d.hrule(footerTop, 0.15, rule)
	y := footerTop + 1.5
	d.font("", 7.5)
	d.color(muted)
	f.SetXY(margin, y)
	d.text(contentW*0.7, 3.5, "Generated "+Generated(d.st.GeneratedAt), "L")
	page := fmt.Sprintf("Page %d", f.PageNo())
	if d.pages > 0 {
		page += fmt.Sprintf(" of %d", d.pages)
	}
	f.SetXY(margin+contentW*0.7, y)
	d.text(contentW*0.3, 3.5, page, "R")
	y += 4
	label := "Content hash (SHA-256) "
	f.SetXY(margin, y)
	lw := f.GetStringWidth(d.tr(label))
	d.text(lw, 3.5, label, "L")
	f.SetFont("Courier", "", 7)
	f.SetXY(margin+lw, y)
	f.CellFormat(contentW-lw, 3.5, asciiOnly(d.st.ContentHash), "", 0, "L", false, 0, "")
}

// asciiOnly keeps the printable ASCII of s (a hex hash, for the core Courier
// font) and writes '?' for anything else.
func asciiOnly(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7E {
			return '?'
		}
		return r
	}, s)
}
