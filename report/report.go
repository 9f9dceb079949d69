// Package report writes the ledger's usage reports (`parsimony report`) as CSV, in
// base units for machines, or as an aligned table in human units for people.
package report

import (
	"fmt"
	"io"
	"math/big"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parsimony-hpc/parsimony/internal/csvsafe"
	"github.com/parsimony-hpc/parsimony/ledger"
)

// ParseTime reads a report bound: a date (local midnight in loc) or an RFC 3339 time.
func ParseTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateOnly, s, loc); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither a date (2026-10-01) nor an RFC 3339 time (2026-10-01T09:00:00+02:00)", s)
}

// ParseBy splits a comma-separated list of dimensions and checks each.
func ParseBy(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, d := range strings.Split(s, ",") {
		d = strings.TrimSpace(d)
		switch d {
		case ledger.ByGroup, ledger.ByUser, ledger.ByCluster, ledger.ByResource, ledger.BySource, ledger.ByPartition:
		default:
			return nil, fmt.Errorf("unknown --by dimension %q (use group, user, cluster, resource, source, partition)", d)
		}
		if seen[d] {
			return nil, fmt.Errorf("--by names %q twice", d)
		}
		seen[d] = true
		out = append(out, d)
	}
	return out, nil
}

// keyColumns are the report's key columns: the --by dimensions in order, without
// resource, which is always a column of its own after them.
func keyColumns(by []string) []string {
	var cols []string
	for _, d := range by {
		if d != ledger.ByResource {
			cols = append(cols, d)
		}
	}
	return cols
}

// WriteCSV writes a header row — the --by keys in order, then resource, unit,
// quantity, allocated, used — and one row per report row, quantities in base units.
// Key cells (group, user, cluster names…) that a spreadsheet would run as a
// formula start with a single quote (package csvsafe); the quantities are numbers.
func WriteCSV(w io.Writer, by []string, rows []ledger.ReportRow) error {
	header := append(keyColumns(by), "resource", "unit", "quantity", "allocated", "used")
	numeric, err := csvsafe.Columns(header, "quantity", "allocated", "used")
	if err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	cw := csvsafe.NewWriter(w, numeric)
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	for _, r := range rows {
		rec := append(append([]string{}, r.Keys...), r.Resource, r.Unit, r.Quantity.String(), r.Allocated.String(), r.Used.String())
		if err := cw.Write(rec); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	if err := cw.Flush(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// WriteTable writes the rows aligned, in human units (core-hours, GB-hours,
// TB-months…), with used as a share of allocated where that means something.
func WriteTable(w io.Writer, by []string, rows []ledger.ReportRow) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	cols := keyColumns(by)
	header := append(append([]string{}, cols...), "resource", "quantity", "unit", "allocated", "used", "used/alloc")
	fmt.Fprintln(tw, strings.Join(header, "\t")+"\t")
	if len(rows) == 0 {
		fmt.Fprintln(tw, "(no usage in this window)\t")
	}
	for _, r := range rows {
		eff := "-"
		if r.Allocated.Sign() > 0 {
			// per mille, rounded, shown as a percentage with one decimal
			pm := new(big.Int).Quo(new(big.Int).Mul(r.Used, big.NewInt(1000)), r.Allocated)
			eff = fmt.Sprintf("%d.%d%%", pm.Int64()/10, pm.Int64()%10)
		}
		fields := append(append([]string{}, r.Keys...), r.Resource,
			ledger.FormatHuman(r.Resource, r.Quantity), ledger.HumanUnitOf(r.Resource).Name,
			ledger.FormatHuman(r.Resource, r.Allocated), ledger.FormatHuman(r.Resource, r.Used), eff)
		fmt.Fprintln(tw, strings.Join(fields, "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}
