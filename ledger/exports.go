package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Reads for the exports (package export): a closed period's stored statements,
// streamed so memory stays constant however many there are, and who is in which
// billable group.

// StoredLine is one line of a final statement as stored, with its statement's
// heading.
type StoredLine struct {
	Number, GroupPath, GroupName, CostCentre, PI, Currency string
	GroupSlug, PILogin                                     string
	LineNo                                                 int
	Line                                                   Line
}

// EachStoredLine calls fn for every line of the closed period's final statements,
// in statement-number and line order, streaming them from the database. fn's line
// is reused between calls.
func (l *Ledger) EachStoredLine(ctx context.Context, month time.Time, fn func(StoredLine) error) error {
	rows, err := l.pool.Query(ctx, `
		SELECT s.number, s.doc->>'group_path', s.doc->>'group_name', s.doc->>'cost_centre', s.doc->>'pi', s.currency,
		       coalesce(s.doc->>'group_slug', ''), coalesce(s.doc->>'pi_login', ''),
		       l.line_no, l.kind, l.description, l.resource, l.cluster, coalesce(to_char(l.usage_month, 'YYYY-MM'), ''),
		       coalesce(l.quantity::text, ''), l.unit, coalesce(l.unit_price::text, ''), l.amount_minor
		FROM statements s JOIN statement_lines l ON l.statement_id = s.id
		WHERE s.period = $1
		ORDER BY s.number, l.line_no`, month)
	if err != nil {
		return fmt.Errorf("read statement lines of %s: %w", month.Format("2006-01"), err)
	}
	defer rows.Close()
	var r StoredLine
	for rows.Next() {
		ln := &r.Line
		if err := rows.Scan(&r.Number, &r.GroupPath, &r.GroupName, &r.CostCentre, &r.PI, &r.Currency,
			&r.GroupSlug, &r.PILogin, &r.LineNo, &ln.Kind, &ln.Description, &ln.Resource, &ln.Cluster, &ln.UsageMonth,
			&ln.Quantity, &ln.Unit, &ln.UnitPrice, &ln.AmountMinor); err != nil {
			return fmt.Errorf("read statement lines of %s: %w", month.Format("2006-01"), err)
		}
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read statement lines of %s: %w", month.Format("2006-01"), err)
	}
	return nil
}

// EachStoredStatement calls fn with every final statement of the closed period as
// its stored JSON document, its total and its number of lines, in number order,
// streaming them from the database.
func (l *Ledger) EachStoredStatement(ctx context.Context, month time.Time, fn func(doc []byte, totalMinor int64, lines int) error) error {
	rows, err := l.pool.Query(ctx, `
		SELECT doc::text, total_minor, jsonb_array_length(doc->'lines') FROM statements WHERE period = $1 ORDER BY number`, month)
	if err != nil {
		return fmt.Errorf("read statements of %s: %w", month.Format("2006-01"), err)
	}
	defer rows.Close()
	for rows.Next() {
		var doc string
		var total int64
		var lines int
		if err := rows.Scan(&doc, &total, &lines); err != nil {
			return fmt.Errorf("read statements of %s: %w", month.Format("2006-01"), err)
		}
		if err := fn([]byte(doc), total, lines); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read statements of %s: %w", month.Format("2006-01"), err)
	}
	return nil
}

// GroupLogins is a group and the logins of its members.
type GroupLogins struct {
	ID     int64
	Slug   string
	Logins []string
}

// BillableMembers lists the billable groups that are not archived, by slug, each
// with the logins of its members on day (a date in the site's zone).
func (l *Ledger) BillableMembers(ctx context.Context, day time.Time) ([]GroupLogins, error) {
	rows, err := l.pool.Query(ctx, `
		SELECT g.id, g.slug, array_agg(DISTINCT u.login ORDER BY u.login)
		FROM groups g
		JOIN memberships m ON m.group_id = g.id AND m.valid_from <= $1::date AND m.valid_to > $1::date
		JOIN users u ON u.id = m.user_id
		WHERE g.billable AND g.archived_at IS NULL
		GROUP BY g.id, g.slug ORDER BY g.slug`, day.Format(time.DateOnly))
	if err != nil {
		return nil, fmt.Errorf("members of billable groups: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (GroupLogins, error) {
		var g GroupLogins
		err := r.Scan(&g.ID, &g.Slug, &g.Logins)
		return g, err
	})
	if err != nil {
		return nil, fmt.Errorf("members of billable groups: %w", err)
	}
	return out, nil
}
