package server

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/parsimony-hpc/parsimony/internal/csvsafe"
)

// The usage answer as CSV (/api/v1/groups/{group}/usage?format=csv): data, not a
// page. Plain numbers (no currency sign, no thousands separators, ASCII minus),
// RFC 3339 times, ids and names in columns of their own, a header row, and the
// JSON answer's order (largest amount first, days in order).

// usageCSVColumns are the columns for a breakdown: the report's group, the
// breakdown's id (and name, where it has one apart from its id), then the figures.
// Quantities are only where an item has a single resource.
func usageCSVColumns(by string) []string {
	cols := []string{"group", "group_name"}
	switch by {
	case "user":
		cols = append(cols, "login", "name")
	case "subgroup":
		cols = append(cols, "subgroup", "subgroup_name")
	case "day":
		cols = append(cols, "day", "resource")
	case "partition":
		cols = append(cols, "cluster", "partition") // as the dashboard's download
	default: // resource, cluster: the id is its own name
		cols = append(cols, by)
	}
	cols = append(cols, "amount", "currency")
	if hasQuantity(by) {
		cols = append(cols, "quantity", "unit")
	}
	return append(cols, "from", "to")
}

// hasQuantity is whether a breakdown's items have a quantity: by resource only (a
// statement's days have amounts, not quantities).
func hasQuantity(by string) bool { return by == "resource" }

// writeUsageCSV writes u as CSV.
func (s *Server) writeUsageCSV(w http.ResponseWriter, u apiUsage) error {
	head := usageCSVColumns(u.By)
	numbers := []string{"amount"}
	if hasQuantity(u.By) {
		numbers = append(numbers, "quantity")
	}
	numeric, err := csvsafe.Columns(head, numbers...)
	if err != nil {
		return fmt.Errorf("usage csv by %s: %w", u.By, err)
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="`+u.Group+`-`+u.By+`.csv"`)
	// A group, user or cluster name a spreadsheet would run as a formula is
	// quoted; amount and quantity stay numbers (package csvsafe).
	cw := csvsafe.NewWriter(w, numeric)
	cw.Write(head)
	for _, it := range u.Items {
		rec := []string{u.Group, u.GroupName}
		switch u.By {
		case "user", "subgroup":
			rec = append(rec, it.Key, it.Name)
		case "day":
			rec = append(rec, it.Key, it.Resource)
		case "partition":
			cluster, partition, _ := strings.Cut(it.Key, "/")
			rec = append(rec, cluster, partition)
		default:
			rec = append(rec, it.Key)
		}
		rec = append(rec, it.Amount, u.Currency)
		if hasQuantity(u.By) {
			rec = append(rec, it.Quantity, it.Unit)
		}
		cw.Write(append(rec, u.From, u.To))
	}
	if err := cw.Flush(); err != nil {
		// The answer has begun: all that is left is to say so in the log.
		s.log.Warn("api csv not written whole", "group", u.Group, "by", u.By, "err", err)
	}
	return nil
}
