package views

import (
	"time"

	"github.com/a-h/templ"

	"github.com/parsimony-hpc/parsimony/ledger"
)

// The view tests render every page from a view model a handler could have built:
// plain data, no database.

var testLayout = LayoutProps{Title: "T", SiteName: "Test University", CSSURL: "/static/app.css", IconURL: "/static/favicon.svg",
	Path: "/groups/lab-a", User: "Ada Lovelace", CSRF: "csrf-token", Admin: true, Finance: true}

func testTable(id, title string) Table {
	return Table{ID: id, Title: title, Note: "A note.", Head: []string{"Name", "Spend"}, Numeric: []bool{false, true},
		Rows:  []Row{{Cells: []string{"Ada", "€1.00"}, Link: "/groups/lab-a", Hint: "idle cores"}, {Cells: []string{"Bob", "€2.00"}, Mine: true}},
		Empty: "Nothing.", CSV: "/groups/lab-a?csv=" + id, More: 3}
}

var (
	testCrumbs  = []Crumb{{Slug: "uni", Name: "University", Link: false}, {Slug: "phys", Name: "Physics", Link: true}, {Slug: "lab-a", Name: "Lab A", Link: true}}
	testPeriods = []Option{{Value: "month", Label: "This month", Selected: true}, {Value: "prev", Label: "Last month"}}
	testGroups  = []Option{{Value: "uni", Label: "uni — University"}, {Value: "lab-a", Label: "\u00a0\u00a0\u00a0lab-a — Lab A"}}
	testRes     = []Option{{Value: "cpu", Label: "cpu (per core-hour)"}, {Value: "gpu", Label: "gpu (per GPU-hour)"}}
	testTree    = GroupTree{Title: "Groups", Note: "The tree.", Head: []string{"Group", "Kind", "Slug"}, Empty: "No groups.",
		Rows: []TreeRow{{Depth: 1, Name: "University", Link: "/admin/groups/uni", Cells: []string{"institution", "uni"}},
			{Depth: 2, Name: "Lab A", Link: "/admin/groups/lab-a", Cells: []string{"lab", "lab-a"}, Archived: true}}}
)

// testPages is every page, by name.
func testPages() map[string]templ.Component {
	st := ledger.Statement{Number: "S-2026-10-0001", Period: "2026-10", Status: "final", GroupSlug: "lab-a", GroupName: "Lab A",
		Currency: "EUR", MinorDigits: 2, GeneratedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)}
	return map[string]templ.Component{
		"login": Login(LoginPage{Layout: testLayout, Next: "/", OIDC: true, Proxy: true,
			DemoUsers: []DemoUser{{Login: "pi", Name: "Pat Investigator", Role: "PI of Lab A"}}}),
		"login-none": Login(LoginPage{Layout: testLayout}),
		"home": Home(HomePage{Layout: testLayout, Name: "Ada", Period: "November 2026", Groups: []GroupCard{
			{Slug: "lab-a", Name: "Lab A", Kind: "lab", Path: "University › Physics", Role: "PI", MySpend: "€1.00", GroupSpend: "€3.00", SpendLabel: "Group spend",
				MyShare: "33%", Rank: "1st of 2", Budget: "€3.00 of €10.00", MyUsage: "10 core-hours"},
			{Slug: "lab-b", Name: "Lab B", Kind: "lab", Role: "member", MySpend: "€0.00", GroupSpend: "€0.00", SpendLabel: "To be billed"}}}),
		"home-empty": Home(HomePage{Layout: testLayout, Name: "Ada", Period: "November 2026"}),
		"dashboard": Dashboard(DashboardPage{Layout: testLayout, Slug: "lab-a", Name: "Lab A", Crumbs: testCrumbs, Period: "November 2026",
			Periods: testPeriods, From: "2026-11-01", To: "2026-11-15", Total: "€3.00",
			Budgets:    []BudgetView{{Label: "Monthly budget", Spent: "€3.00", Amount: "€10.00", Projected: "€12.00", Remaining: "€7.00", Fraction: 0.3, ProjectedFraction: 1.2, Over: true}},
			Chart:      templ.Raw("<svg></svg>"),
			Tables:     []Table{testTable("", "By subgroup"), testTable("storage", "Storage against quota"), {Title: "By user", Empty: "Nobody used anything."}},
			Efficiency: []Table{testTable("top-cost", "Top jobs by cost"), testTable("efficiency", "Efficiency")},
			CanManage:  true, Statements: "/groups/lab-a/statements", Leaderboard: "/groups/lab-a/leaderboard?period=month",
			StackBy: "cluster", Query: "period=month"}),
		"dashboard-resource": Dashboard(DashboardPage{Layout: testLayout, Slug: "lab-a", Name: "Lab A", Crumbs: testCrumbs[:1], Periods: testPeriods,
			Chart: templ.Raw("<svg></svg>"), StackBy: "resource"}),
		"leaderboard": Leaderboard(LeaderboardPage{Layout: testLayout, Slug: "lab-a", Name: "Lab A", Crumbs: testCrumbs, Period: "November 2026",
			Periods: testPeriods, Sort: "spend", Sorts: []Option{{Value: "spend", Label: "spend", Selected: true}, {Value: "core", Label: "core-hours"}},
			NamesHidden: true, Members: testTable("members", "Members"), Subgroups: testTable("subgroups", "Subgroups")}),
		"statements": StatementList(StatementListPage{Layout: testLayout, Title: "Billing periods", Note: "Close in order.",
			Table: testTable("", "Periods"), Close: []ClosablePeriod{{Period: "2026-10", Label: "October 2026", Next: true}, {Period: "2026-11", Label: "November 2026"}},
			Jobs: testTable("", "Recent closing")}),
		"statement": StatementPage(StatementPageProps{Layout: testLayout, Statement: st, PDF: "/x/pdf", CSV: "/x/csv", Back: "/groups/lab-a/statements"}),
		"tokens": Tokens(TokensPage{Layout: testLayout, New: "psy_secret", Table: testTable("", "Your tokens"),
			Revoke: []TokenRevoke{{ID: "7", Name: "spawner"}}}),
		"tables": Tables(TablesPage{Layout: testLayout, Title: "Collector runs", Lede: "Runs.", Links: []Crumb{{Slug: "/admin", Name: "Admin"}, {Slug: "/admin/runs", Name: "Runs"}},
			Tables: []Table{testTable("", "Collector runs")}}),
		"overview": Overview(OverviewPage{Layout: testLayout, Period: "November 2026", Level: "department",
			Columns: []OverviewColumn{{Resource: "cpu", Unit: "core-hours"}},
			Rows:    []OverviewRow{{Slug: "phys", Name: "Physics", Cells: []string{"10"}}, {Slug: "(unassigned)", Name: "(unassigned)", Cells: []string{"2"}, Unassigned: true}},
			Total:   []string{"12"}}),
		"job": JobPage(JobPageProps{Layout: testLayout, Heading: "Closing October 2026", State: "done", Facts: [][2]string{{"State", "done"}},
			Outcome: "October 2026 is closed.", Back: "/statements"}),
		"message": Message(testLayout, "Not found", "There is nothing here."),
		"admin": AdminHome(AdminHomePage{Layout: testLayout, Done: "Mapped.", Links: []Crumb{{Slug: "/admin/groups", Name: "Groups"}},
			Unassigned: []UnassignedRow{{Source: "slurm", Cluster: "hpc", Account: "lost", Rows: "12", Since: "2026-10-01", Kind: "slurm"},
				{Source: "odd", Cluster: "x", Account: "y", Rows: "1", Since: "2026-10-02"}},
			More: "There is more.", Groups: testGroups, Tables: []Table{testTable("", "Rates in force today")}, Tree: testTree}),
		"admin-groups": AdminGroups(AdminGroupsPage{Layout: testLayout, Done: "Created.", Links: []Crumb{{Slug: "/admin", Name: "Admin"}},
			Parents: testGroups, Kinds: []string{"lab", "department"}, Tree: testTree}),
		"admin-group": AdminGroup(AdminGroupPage{Layout: testLayout, Slug: "lab-a", Name: "Lab A", Facts: []Fact{{Label: "Kind", Value: "lab"}},
			Parents: testGroups, CurrentParent: "uni", Kinds: []string{"slurm"}, Mappings: testTable("", "Mappings")}),
		"admin-group-archived": AdminGroup(AdminGroupPage{Layout: testLayout, Slug: "lab-a", Name: "Lab A", Archived: true, Mappings: Table{Title: "Mappings", Empty: "None."}}),
		"admin-users":          AdminUsers(AdminUsersPage{Layout: testLayout, Query: "ada", Table: testTable("", "People")}),
		"admin-user": AdminUser(AdminUserPage{Layout: testLayout, Login: "ada", Base: "/admin/users/ada", Facts: []Fact{{Label: "Name", Value: "Ada"}},
			Roles: []string{"admin"}, Grantable: []string{"finance"},
			Memberships: []MembershipRow{{GroupSlug: "lab-a", GroupName: "Lab A", Role: "pi", From: "always", To: "open", Origin: "manual", Current: true}},
			Groups:      testGroups, GroupRoles: []string{"pi", "member"}, Today: "2026-11-15"}),
		"admin-user-bare": AdminUser(AdminUserPage{Layout: testLayout, Login: "bob", Base: "/admin/users/bob"}),
		"admin-rates": AdminRates(AdminRatesPage{Layout: testLayout, Currency: "EUR", Resources: testRes, Groups: testGroups, Today: "2026-11-15",
			FirstOpen: "2026-11-01", Rates: []RateRow{{ID: "3", Resource: "cpu", Cluster: "*", Partition: "*", QoS: "*", Group: "*", Price: "0.05",
				Per: "core-hour", From: "2026-01-01", To: "open", Endable: true}}}),
		"admin-rates-empty": AdminRates(AdminRatesPage{Layout: testLayout, Currency: "EUR"}),
		"admin-budgets": AdminBudgets(AdminBudgetsPage{Layout: testLayout, Currency: "EUR", Resources: testRes, Groups: testGroups, Today: "2026-11-15",
			Budgets: testTable("", "Budgets")}),
		"admin-error": AdminError(AdminErrorPage{Layout: testLayout, Reason: "The price is not a number.", Back: "/admin/rates", BackName: "Rates"}),
	}
}
