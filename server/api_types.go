package server

import (
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// The JSON API's answers (docs/api.md), one type per response. They are the API's
// own, not a page's table or the frozen statement document serialised, so a page
// or a statement's file format can change without changing what scripts read.
//
// The rules, the same in every answer:
//   - keys are snake_case and always present; a value that is not known is null
//     (a key that belongs to only some breakdowns is documented as such);
//   - money is a decimal string with the currency's minor digits ("1234.56",
//     "-0.50") next to a "currency" field, never a JSON number, which most readers
//     parse as a float;
//   - quantities are decimal strings too (four decimals of the priced unit, six on
//     statement lines, as the statement has them), so no reader rounds them;
//   - counts, ranks and ratios (efficiency, change) are JSON numbers;
//   - times are RFC 3339 with the site's zone; a window is [from, to);
//   - a thing's id (a group's slug, a person's login) and its name are separate
//     fields.
//
// They live in package server rather than a package of their own: only the
// handlers build them, from the handlers' own helpers (the window, noUser, the
// site's currency), and no other package reads them.

// apiMe is GET /api/v1/me.
type apiMe struct {
	Login       string          `json:"login"`
	Name        string          `json:"name"`
	Admin       bool            `json:"admin"`
	Finance     bool            `json:"finance"`
	Memberships []apiMembership `json:"memberships"`
}

type apiMembership struct {
	Group     string `json:"group"` // the group's slug
	GroupName string `json:"group_name"`
	Role      string `json:"role"`
}

// apiGroupList is GET /api/v1/groups.
type apiGroupList struct {
	Groups []apiGroup `json:"groups"`
}

type apiGroup struct {
	Slug       string  `json:"slug"`
	Name       string  `json:"name"`
	Kind       string  `json:"kind"`
	Parent     *string `json:"parent"` // the parent's slug; null for a top-level group
	Billable   bool    `json:"billable"`
	CostCentre string  `json:"cost_centre"` // "" when none
}

// apiUsage is GET /api/v1/groups/{group}/usage.
type apiUsage struct {
	Group     string `json:"group"`
	GroupName string `json:"group_name"`
	From      string `json:"from"`
	To        string `json:"to"`
	By        string `json:"by"`
	// Statement is the statement whose usage the figures are, for a billable
	// group's calendar month (as on its dashboard); null for the subtree's spend.
	Statement        *apiStatementRef `json:"statement"`
	BilledSeparately []apiGroupRef    `json:"billed_separately"` // descendants on statements of their own, left out
	Currency         string           `json:"currency"`
	Total            string           `json:"total"`
	Items            []apiUsageItem   `json:"items"`
}

// apiStatementRef names a statement.
type apiStatementRef struct {
	Number string `json:"number"`
	Status string `json:"status"` // draft or final
	Period string `json:"period"`
}

// apiGroupRef names a group.
type apiGroupRef struct {
	Slug string `json:"slug"`
	Name string `json:"name"`
}

// apiUsageItem is one value of the breakdown. Resource belongs to the breakdowns
// with a single resource per item (by=resource, by=day), Quantity and Unit to
// by=resource; they are left out of the others.
type apiUsageItem struct {
	Key      string `json:"key"`  // resource, cluster, "cluster/partition", day ("late"), subgroup slug, login ("" for no person)
	Name     string `json:"name"` // the resource's, subgroup's or person's name; otherwise the key
	Resource string `json:"resource,omitempty"`
	Amount   string `json:"amount"`
	Quantity string `json:"quantity,omitempty"`
	Unit     string `json:"unit,omitempty"`
}

// apiLeaderboard is GET /api/v1/groups/{group}/leaderboard, ranked as ?sort= asks.
type apiLeaderboard struct {
	Group      string             `json:"group"`
	GroupName  string             `json:"group_name"`
	From       string             `json:"from"`
	To         string             `json:"to"`
	PrevFrom   string             `json:"prev_from"` // the window "change" compares with
	PrevTo     string             `json:"prev_to"`
	Currency   string             `json:"currency"`
	Sort       string             `json:"sort"` // what the lines are ranked by: spend, core, gpu, storage, efficiency or waste
	NamesShown bool               `json:"names_shown"`
	Members    []apiBoardMember   `json:"members"`
	Subgroups  []apiBoardSubgroup `json:"subgroups"`
}

// apiBoardMember is a person's line. Login and Name are null where the caller may
// not see who it is (names_shown false; their own line is always named); usage no
// person ran has no login and the no-person name, whoever asks.
type apiBoardMember struct {
	Rank  int     `json:"rank"`
	Login *string `json:"login"`
	Name  *string `json:"name"`
	You   bool    `json:"you"`
	apiBoardFigures
}

// apiBoardSubgroup is a child group's line, or the group's own usage (itself).
type apiBoardSubgroup struct {
	Rank   int    `json:"rank"`
	Slug   string `json:"slug"`
	Name   string `json:"name"`
	Itself bool   `json:"itself"`
	apiBoardFigures
}

// apiBoardFigures are a leaderboard line's figures.
type apiBoardFigures struct {
	Spend           string   `json:"spend"`
	PrevSpend       string   `json:"prev_spend"`
	Change          *float64 `json:"change"` // (spend − prev_spend) / prev_spend; null without prev_spend
	CoreHours       string   `json:"core_hours"`
	GPUHours        string   `json:"gpu_hours"`
	StorageTBMonths string   `json:"storage_tb_months"`
	CPUEfficiency   *float64 `json:"cpu_efficiency"` // used / reserved core-hours; null without core-hours
	Waste           string   `json:"waste"`
	Jobs            int64    `json:"jobs"`
}

// apiStatement is GET /api/v1/groups/{group}/statements/{period}, built from
// ledger.Statement.
type apiStatement struct {
	Number      string             `json:"number"`
	Status      string             `json:"status"` // draft or final
	Period      string             `json:"period"` // "2026-10"
	Currency    string             `json:"currency"`
	Group       string             `json:"group"`
	GroupName   string             `json:"group_name"`
	GroupPath   string             `json:"group_path"` // slugs from the top, "medicine/genomics/smith-lab"
	CostCentre  string             `json:"cost_centre"`
	PILogin     *string            `json:"pi_login"` // null when the group has no PI
	PIName      *string            `json:"pi_name"`
	Usage       string             `json:"usage"` // usage and late usage
	Subsidy     string             `json:"subsidy"`
	Adjustment  string             `json:"adjustment"`
	Total       string             `json:"total"`
	Lines       []apiStatementLine `json:"lines"`
	Subgroups   []apiStatementPart `json:"subgroups"`
	Users       []apiStatementUser `json:"users"`
	GeneratedAt string             `json:"generated_at"`
	ContentHash string             `json:"content_hash"` // the frozen document's sha256
}

type apiStatementLine struct {
	LineNo      int     `json:"line_no"` // from 1, as in the statement's CSV
	Kind        string  `json:"kind"`
	Description string  `json:"description"`
	Resource    *string `json:"resource"`
	Cluster     *string `json:"cluster"`
	UsageMonth  *string `json:"usage_month"` // late usage: the month it belongs to
	Quantity    *string `json:"quantity"`    // six decimals of the unit
	Unit        *string `json:"unit"`
	UnitPrice   *string `json:"unit_price"`
	Amount      string  `json:"amount"`
}

// apiStatementPart is the statement's group or a descendant it bills for, parents
// first.
type apiStatementPart struct {
	Slug   string  `json:"slug"`
	Name   string  `json:"name"`
	Parent *string `json:"parent"` // null for the statement's own group
	Depth  int     `json:"depth"`  // 0 for the statement's own group
	Amount string  `json:"amount"`
}

// apiStatementUser is a person's share of the usage, largest first; Login is null
// for usage no person ran.
type apiStatementUser struct {
	Login  *string `json:"login"`
	Name   string  `json:"name"`
	Amount string  `json:"amount"`
}

// apiEstimate is GET /api/v1/groups/{group}/estimate.
type apiEstimate struct {
	Group     string            `json:"group"`
	GroupName string            `json:"group_name"`
	Cluster   string            `json:"cluster"`
	Partition string            `json:"partition"`
	QoS       string            `json:"qos"`
	Day       string            `json:"day"` // the site-local day whose rates apply
	Currency  string            `json:"currency"`
	Lines     []apiEstimateLine `json:"lines"`
	Total     string            `json:"total"`
}

type apiEstimateLine struct {
	Resource  string  `json:"resource"`
	Quantity  string  `json:"quantity"`
	Unit      string  `json:"unit"`
	UnitPrice *string `json:"unit_price"` // null: no rate applies, and the line costs 0
	Amount    string  `json:"amount"`
}

// apiTime writes a time as RFC 3339 in the site's zone.
func (s *Server) apiTime(t time.Time) string {
	return t.In(s.ledger.Location()).Format(time.RFC3339)
}

// apiMoney writes a dashboard figure (a float sum, see ledger.Spend) with the
// currency's minor digits.
func (s *Server) apiMoney(x float64) string {
	_, digits := s.ledger.Currency()
	return decimalFloat(x, digits)
}

// quantity writes a quantity in its priced unit with four decimals.
func quantity(x float64) string { return decimalFloat(x, 4) }

// decimalFloat writes a display figure with digits decimals as a plain decimal
// string: no thousands separators, an ASCII minus, and "-0" reads "0". The
// dashboards' sums are float8 by design (see ledger.Spend); the API hands them on
// as text so no reader parses money as a float.
func decimalFloat(x float64, digits int) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return "0" // cannot come from a sum of finite numbers; never a JSON error
	}
	s := strconv.FormatFloat(x, 'f', digits, 64)
	if strings.Trim(s, "-0.") == "" {
		s = strings.TrimPrefix(s, "-")
	}
	return s
}

// ratio rounds a ratio to four decimals for a JSON number: enough for a
// percentage with two decimals, and no float noise in the answer.
func ratio(x float64) *float64 {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return nil
	}
	r := math.Round(x*1e4) / 1e4
	return &r
}

// orNull is s, or null when it is empty.
func orNull(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// newAPIStatement is the API's view of a statement: amounts as decimal strings
// (the frozen document has minor units), groups and people by slug and login, and
// no internal ids.
func newAPIStatement(st ledger.Statement, loc *time.Location) apiStatement {
	money := func(minor int64) string { return ledger.PlainMinor(minor, st.MinorDigits) }
	out := apiStatement{Number: st.Number, Status: st.Status, Period: st.Period, Currency: st.Currency,
		Group: st.GroupSlug, GroupName: st.GroupName, GroupPath: st.GroupPath, CostCentre: st.CostCentre,
		Usage: money(st.UsageMinor), Subsidy: money(st.SubsidyMinor), Adjustment: money(st.AdjustMinor), Total: money(st.TotalMinor),
		Lines: []apiStatementLine{}, Subgroups: []apiStatementPart{}, Users: []apiStatementUser{},
		GeneratedAt: st.GeneratedAt.In(loc).Format(time.RFC3339), ContentHash: st.ContentHash}
	if st.PILogin != "" {
		out.PILogin = orNull(st.PILogin)
		// The document writes the PI as "Name (login)", or the login alone.
		name := strings.TrimSuffix(st.PI, " ("+st.PILogin+")")
		out.PIName = &name
	}
	for i, ln := range st.Lines {
		out.Lines = append(out.Lines, apiStatementLine{LineNo: i + 1, Kind: ln.Kind, Description: ln.Description,
			Resource: orNull(ln.Resource), Cluster: orNull(ln.Cluster), UsageMonth: orNull(ln.UsageMonth),
			Quantity: orNull(ln.Quantity), Unit: orNull(ln.Unit), UnitPrice: orNull(ln.UnitPrice), Amount: money(ln.AmountMinor)})
	}
	slugs := map[int64]string{}
	for _, sg := range st.Subgroups {
		slugs[sg.ID] = sg.Slug
	}
	for _, sg := range st.Subgroups {
		part := apiStatementPart{Slug: sg.Slug, Name: sg.Name, Depth: sg.Depth, Amount: money(sg.AmountMinor)}
		if sg.Depth > 0 {
			part.Parent = orNull(slugs[sg.ParentID])
		}
		out.Subgroups = append(out.Subgroups, part)
	}
	for _, u := range st.Users {
		name := u.Name
		if u.Slug == "" {
			name = noUser // one name for the no-person row everywhere
		}
		out.Users = append(out.Users, apiStatementUser{Login: orNull(u.Slug), Name: name, Amount: money(u.AmountMinor)})
	}
	return out
}
