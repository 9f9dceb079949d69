package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// check runs Check on a document without touching the disk.
func check(src string) []Problem {
	return checkData("parsimony.toml", []byte(src))
}

// writeConfig writes src to a parsimony.toml in a fresh directory.
func writeConfig(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "parsimony.toml")
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// noEnv is an empty environment.
func noEnv(string) (string, bool) { return "", false }

// env is a fake environment.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

func dumpProblems(ps []Problem) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("\n\t" + p.String())
	}
	return b.String()
}

func TestExampleFileIsValid(t *testing.T) {
	t.Parallel()
	const path = "../parsimony.example.toml"
	if ps := Check(path); len(ps) > 0 {
		t.Fatalf("Check(%s) found problems:%s", path, dumpProblems(ps))
	}
	cfg, err := load(path, noEnv)
	if err != nil {
		t.Fatalf("load(%s): %v", path, err)
	}

	// The example must show what the brief for it asks: a real time zone,
	// two Slurm clusters (one behind ssh), a JupyterHub and two file systems.
	if cfg.Site.TimeZone != "Europe/Berlin" || cfg.Site.Currency != "EUR" {
		t.Errorf("site = %+v, want Europe/Berlin and EUR", cfg.Site)
	}
	kinds := map[ClusterKind]int{}
	for _, c := range cfg.Clusters {
		kinds[c.Kind]++
	}
	if kinds[KindSlurm] != 2 || kinds[KindKubernetes] != 1 {
		t.Errorf("cluster kinds = %v, want 2 slurm and 1 kubernetes", kinds)
	}
	argv, err := SplitCommand(cfg.Clusters[1].SacctCommand)
	if err != nil || argv[0] != "ssh" || argv[len(argv)-1] != "sacct" {
		t.Errorf("second cluster's sacct_command splits to %q, %v; want an ssh wrapper", argv, err)
	}
	if len(cfg.Filesystems) != 2 {
		t.Errorf("%d filesystems, want 2", len(cfg.Filesystems))
	}
	argv, err = SplitCommand(cfg.Filesystems[0].Command)
	if want := []string{"sudo", "-n", "/usr/sbin/xfs_quota", "-x", "-c", "report -u -n -b", "/home"}; err != nil || !slices.Equal(argv, want) {
		t.Errorf("home's command splits to %q, %v; want %q", argv, err, want)
	}
}

// TestExampleFileExplainsEveryKey guards "every key explained": each key the
// decoder knows must appear in the example, set or in a comment.
func TestExampleFileExplainsEveryKey(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("../parsimony.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, key := range []string{
		"name", "time_zone", "currency", "url", "listen", "base_url", "interval",
		"[collectors.slurm]", "[collectors.kubernetes]", "[collectors.host]", "[collectors.storage]",
		"slurm_cluster", "sacct_command", "sacctmgr_command", "overlap",
		"prometheus_url", "namespace_label", "user_label", "command", "path",
		"PARSIMONY_DATABASE_URL", "DATABASE_URL",
	} {
		if !strings.Contains(text, key) {
			t.Errorf("the example file does not mention %s", key)
		}
	}
}

func TestDefaultIsValid(t *testing.T) {
	t.Parallel()
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate():\n%v", err)
	}
	cfg, err := load("", noEnv)
	if err != nil {
		t.Fatalf(`load(""): %v`, err)
	}
	if got, want := cfg.Site, Default().Site; got != want {
		t.Errorf(`load("").Site = %+v, want %+v`, got, want)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	const src = `
[site]
time_zone = "America/New_York"

[[cluster]]
name = "hpc"
kind = "slurm"

[[cluster]]
name = "hub"
kind = "kubernetes"
prometheus_url = "http://prometheus:9090"

[[cluster]]
name = "hub-anon"
kind = "kubernetes"
prometheus_url = "http://prometheus:9090"
user_label = ""

[[cluster]]
name = "old"
kind = "slurm"
overlap = "0s"
`
	cfg, err := load(writeConfig(t, src), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		got, want any
	}{
		{"site.name", cfg.Site.Name, "Parsimony"},
		{"site.currency", cfg.Site.Currency, "USD"},
		{"currency digits", cfg.Site.CurrencyMinorDigits(), 2},
		{"server.listen", cfg.Server.Listen, "127.0.0.1:8080"},
		{"collectors.slurm.interval", cfg.Collectors.Slurm.Interval.Duration, 15 * time.Minute},
		{"collectors.host.interval", cfg.Collectors.Host.Interval.Duration, time.Minute},
		{"slurm sacct_command", cfg.Clusters[0].SacctCommand, "sacct"},
		{"slurm sacctmgr_command", cfg.Clusters[0].SacctmgrCommand, "sacctmgr"},
		{"slurm overlap", cfg.Clusters[0].Overlap.Duration, 6 * time.Hour},
		{"slurm time_zone is the site's", cfg.Clusters[0].TimeZone, "America/New_York"},
		{"slurm_cluster is the name", cfg.Clusters[0].SlurmCluster, "hpc"},
		{"kubernetes user_label", cfg.Clusters[1].UserLabel, "hub.jupyter.org/username"},
		{"an explicit empty user_label stays empty", cfg.Clusters[2].UserLabel, ""},
		{"an explicit zero overlap stays zero", cfg.Clusters[3].Overlap.Duration, time.Duration(0)},
		{"kubernetes gets no slurm defaults", cfg.Clusters[1].SacctCommand, ""},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	t.Parallel()
	const fileURL = "postgres://from-file/parsimony"
	withURL := "[database]\nurl = \"" + fileURL + "\"\n"
	tests := []struct {
		name string
		file string
		env  map[string]string
		want string
	}{
		{"file only", withURL, nil, fileURL},
		{"DATABASE_URL wins over the file", withURL,
			map[string]string{"DATABASE_URL": "postgres://generic/db"}, "postgres://generic/db"},
		{"PARSIMONY_DATABASE_URL wins over the file", withURL,
			map[string]string{"PARSIMONY_DATABASE_URL": "postgres://specific/db"}, "postgres://specific/db"},
		{"PARSIMONY_DATABASE_URL wins over DATABASE_URL", withURL,
			map[string]string{"PARSIMONY_DATABASE_URL": "postgres://specific/db", "DATABASE_URL": "postgres://generic/db"}, "postgres://specific/db"},
		{"an empty variable counts as unset", withURL,
			map[string]string{"PARSIMONY_DATABASE_URL": "", "DATABASE_URL": "postgres://generic/db"}, "postgres://generic/db"},
		{"env without a url key", "",
			map[string]string{"DATABASE_URL": "host=db dbname=parsimony"}, "host=db dbname=parsimony"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := load(writeConfig(t, tt.file), env(tt.env))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Database.URL != tt.want {
				t.Errorf("database.url = %q, want %q", cfg.Database.URL, tt.want)
			}
		})
	}

	t.Run("no file", func(t *testing.T) {
		t.Parallel()
		cfg, err := load("", env(map[string]string{"DATABASE_URL": "postgres://generic/db"}))
		if err != nil || cfg.Database.URL != "postgres://generic/db" {
			t.Errorf(`load("") = %q, %v; want the DATABASE_URL`, cfg.Database.URL, err)
		}
	})

	t.Run("a bad value from the environment", func(t *testing.T) {
		t.Parallel()
		_, err := load(writeConfig(t, withURL), env(map[string]string{"PARSIMONY_DATABASE_URL": "mysql://u:secret@h/db"}))
		var ps Problems
		if !errors.As(err, &ps) || len(ps) != 1 {
			t.Fatalf("err = %v, want one problem", err)
		}
		p := ps[0]
		if p.Line != 0 || p.Key != "database.url" || !strings.Contains(p.Message, "$PARSIMONY_DATABASE_URL") {
			t.Errorf("problem = %+v, want line 0, database.url, naming the variable", p)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("the error shows the password: %v", err)
		}
	})
}

// TestLoadReadsProcessEnvironment covers the exported Load, which reads the
// real environment (so it cannot run in parallel).
func TestLoadReadsProcessEnvironment(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://generic/db")
	t.Setenv("PARSIMONY_DATABASE_URL", "postgres://specific/db")
	cfg, err := Load(writeConfig(t, "[database]\nurl = \"postgres://file/db\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Database.URL != "postgres://specific/db" {
		t.Errorf("database.url = %q, want PARSIMONY_DATABASE_URL's", cfg.Database.URL)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	_, err := load(filepath.Join(t.TempDir(), "missing.toml"), noEnv)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}

	path := writeConfig(t, "[site]\ntime_zone = \"Mars/Olympus\"\ncurrency = \"XYZ\"\n")
	_, err = load(path, noEnv)
	var ps Problems
	if !errors.As(err, &ps) || len(ps) != 2 {
		t.Fatalf("err = %v, want Problems with 2 problems", err)
	}
	want := path + `:2: site.time_zone: unknown time zone "Mars/Olympus"` + "\n" +
		path + `:3: site.currency: unknown currency code "XYZ": not a current ISO 4217 currency`
	if err.Error() != want {
		t.Errorf("err =\n%v\nwant\n%v", err, want)
	}

	if ps := Check(filepath.Join(t.TempDir(), "missing.toml")); len(ps) != 1 || !strings.Contains(ps[0].Message, "no such file") {
		t.Errorf("Check(missing) = %v, want one problem about the file", ps)
	}
}

// The format promised to `parsimony config check`.
func TestProblemString(t *testing.T) {
	t.Parallel()
	const src = `[site]
name = "Example University"
time_zone = "Europe/Berlin"

[[cluster]]
name = "hpc"
kind = "slurm"

[[cluster]]
name = "gpu"
kind = "slurm"
time_zone = "Europe/Berln"
`
	ps := check(src)
	if len(ps) != 1 {
		t.Fatalf("want 1 problem, got:%s", dumpProblems(ps))
	}
	if got, want := ps[0].String(), `parsimony.toml:12: cluster[1].time_zone: unknown time zone "Europe/Berln"`; got != want {
		t.Errorf("String() = %s\nwant       %s", got, want)
	}

	for _, tt := range []struct {
		p    Problem
		want string
	}{
		{Problem{File: "a.toml", Line: 3, Message: "syntax error: x"}, "a.toml:3: syntax error: x"},
		{Problem{File: "a.toml", Message: "open a.toml: denied"}, "a.toml: open a.toml: denied"},
		{Problem{File: "a.toml", Key: "database.url", Message: "bad"}, "a.toml: database.url: bad"},
		{Problem{Key: "site.name", Message: "is required"}, "site.name: is required"},
		{Problem{Line: 4, Key: "k", Message: "m"}, "line 4: k: m"},
	} {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

// want is a problem a test expects: its line, its key, and a part of its
// message.
type want struct {
	line int
	key  string
	msg  string
}

func matches(p Problem, w want) bool {
	return p.Line == w.line && p.Key == w.key && strings.Contains(p.Message, w.msg)
}

// assertProblems checks that ps are exactly the wanted problems, in order.
func assertProblems(t *testing.T, ps []Problem, wants []want) {
	t.Helper()
	ok := len(ps) == len(wants)
	for i := 0; ok && i < len(ps); i++ {
		ok = matches(ps[i], wants[i])
	}
	if !ok {
		var b strings.Builder
		for _, w := range wants {
			b.WriteString("\n\t" + Problem{Line: w.line, Key: w.key, Message: "…" + w.msg + "…"}.String())
		}
		t.Errorf("got:%s\nwant:%s", dumpProblems(ps), b.String())
	}
}

// A valid cluster and filesystem for cases to append to, so that each case
// has exactly the problems it is about.
const (
	slurmCluster = "[[cluster]]\nname = \"hpc\"\nkind = \"slurm\"\n"
	k8sCluster   = "[[cluster]]\nname = \"hub\"\nkind = \"kubernetes\"\nprometheus_url = \"https://prom.example.edu\"\n"
)

func TestCheckFindsEachKindOfProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []want
	}{
		// Syntax.
		{"unclosed string", "[site]\nname = \"Example\n", []want{{2, "", "syntax error"}}},
		{"missing value", "[server]\nlisten =\n", []want{{2, "", "syntax error"}}},
		{"key defined twice", "[site]\nname = \"a\"\nname = \"b\"\n", []want{{3, "", "already defined"}}},
		{"unclosed table header", "[site\nname = \"a\"\n", []want{{1, "", "syntax error"}}},
		{"table redefined", "[site]\nname = \"a\"\n[server]\n[site]\ncurrency = \"EUR\"\n", []want{{4, "", "syntax error"}}},

		// Unknown keys.
		{"typo in a key", "[site]\ntim_zone = \"UTC\"\n", []want{{2, "site.tim_zone", `unknown key (did you mean "time_zone"?)`}}},
		{"typo in a cluster key", slurmCluster + "sacct_comand = \"sacct\"\n",
			[]want{{4, "cluster[0].sacct_comand", `did you mean "sacct_command"?`}}},
		{"typo in a table name", "[colectors.slurm]\ninterval = \"5m\"\n", []want{{1, "colectors", `did you mean "collectors"?`}}},
		{"typo in a sub-table name", "[collectors.slurmm]\ninterval = \"5m\"\n", []want{{1, "collectors.slurmm", `did you mean "slurm"?`}}},
		{"plural array name", "[[clusters]]\nname = \"hpc\"\n", []want{{1, "clusters", `did you mean "cluster"?`}}},
		{"unrelated key", "flavour = \"vanilla\"\n", []want{{1, "flavour", "unknown key"}}},
		{"key above its table", "time_zone = \"UTC\"\n[site]\n", []want{{1, "time_zone", `did you mean "site.time_zone", under [site]?`}}},
		{"byte order mark and CRLF", "\xef\xbb\xbf[site]\r\nname = \"x\"\r\ntim_zone = \"UTC\"\r\n", []want{{3, "site.tim_zone", "unknown key"}}},
		{"quoted key", "[site]\n\"time zone\" = \"UTC\"\n", []want{{2, `site."time zone"`, "unknown key"}}},

		// Types.
		{"number for a string", "[site]\ncurrency = 978\n", []want{{2, "site.currency", "must be a string, not an integer (978)"}}},
		{"number for a duration", "[collectors.slurm]\ninterval = 15\n", []want{{2, "collectors.slurm.interval", `must be a duration string like "15m", not an integer (15)`}}},
		{"string for a table", "site = \"Example\"\n", []want{{1, "site", "must be a table, not a string"}}},
		{"table for an array of tables", "[cluster]\nname = \"hpc\"\n", []want{{1, "cluster", "write [[cluster]], not [cluster]"}}},
		{"array for a string", slurmCluster + "sacct_command = [\"ssh\", \"login\", \"sacct\"]\n",
			[]want{{4, "cluster[0].sacct_command", "must be a string, not an array"}}},
		{"boolean for a string", "[server]\nbase_url = true\n", []want{{2, "server.base_url", "not a boolean"}}},

		// Durations.
		{"bad duration", "[collectors.storage]\ninterval = \"1 day\"\n", []want{{2, "collectors.storage.interval", `invalid duration "1 day"`}}},
		{"days are not a unit", slurmCluster + "overlap = \"1d\"\n", []want{{4, "cluster[0].overlap", `invalid duration "1d"`}}},
		{"zero interval", "[collectors.host]\ninterval = \"0s\"\n", []want{{2, "collectors.host.interval", "longer than zero"}}},
		{"negative overlap", slurmCluster + "overlap = \"-1h\"\n", []want{{4, "cluster[0].overlap", "must not be negative"}}},

		// Site.
		{"unknown time zone", "[site]\ntime_zone = \"Europe/Berln\"\n", []want{{2, "site.time_zone", `unknown time zone "Europe/Berln"`}}},
		{"Local time zone", "[site]\ntime_zone = \"Local\"\n", []want{{2, "site.time_zone", "depends on the server"}}},
		{"empty site name", "[site]\nname = \"\"\n", []want{{2, "site.name", "is required"}}},
		{"long currency code", "[site]\ncurrency = \"EURO\"\n", []want{{2, "site.currency", "three-letter ISO 4217 code"}}},
		{"lower-case currency code", "[site]\ncurrency = \"eur\"\n", []want{{2, "site.currency", `upper case, "EUR"`}}},
		{"unknown currency code", "[site]\ncurrency = \"XYZ\"\n", []want{{2, "site.currency", `unknown currency code "XYZ"`}}},
		{"withdrawn currency code", "[site]\ncurrency = \"DEM\"\n", []want{{2, "site.currency", "not a current ISO 4217"}}},
		{"inline table", "site = { name = \"x\", time_zone = \"Mars/Olympus\" }\n", []want{{1, "site.time_zone", "unknown time zone"}}},
		{"dotted key", "# comment\nsite.time_zone = \"Nowhere\"\n", []want{{2, "site.time_zone", "unknown time zone"}}},

		// Database and server.
		{"database URL of another database", "[database]\nurl = \"mysql://u:secret@db/parsimony\"\n",
			[]want{{2, "database.url", `must be "postgres" or "postgresql", not "mysql"`}}},
		{"key=value settings with a URL inside", "[database]\nurl = \"host=db dbname=p sslrootcert=file:///etc/ca.pem\"\n", nil},
		{"database string that is neither URL nor settings", "[database]\nurl = \"db.example.edu\"\n",
			[]want{{2, "database.url", "not a PostgreSQL connection string"}}},
		{"listen without a port", "[server]\nlisten = \"localhost\"\n", []want{{2, "server.listen", "use host:port"}}},
		{"listen with a bad port", "[server]\nlisten = \"127.0.0.1:http-alt\"\n", []want{{2, "server.listen", "use host:port"}}},
		{"base URL without scheme", "[server]\nbase_url = \"usage.example.edu\"\n", []want{{2, "server.base_url", "must start with http:// or https://"}}},
		{"base URL with a query", "[server]\nbase_url = \"https://usage.example.edu/?x=1\"\n", []want{{2, "server.base_url", "no query"}}},
		{"unparsable base URL", "[server]\nbase_url = \"https://usage example.edu:port/\"\n", []want{{2, "server.base_url", "not a valid URL"}}},

		// Clusters.
		{"invalid slug", "[[cluster]]\nname = \"Big Iron\"\nkind = \"host\"\n", []want{{2, "cluster[0].name", `invalid name "Big Iron"`}}},
		{"slug with a trailing hyphen", "[[cluster]]\nname = \"hpc-\"\nkind = \"host\"\n", []want{{2, "cluster[0].name", "invalid name"}}},
		{"duplicate cluster names", slurmCluster + "\n[[cluster]]\nname = \"hpc\"\nkind = \"host\"\n",
			[]want{{6, "cluster[1].name", `duplicate cluster name "hpc" (also used by cluster[0].name on line 2)`}}},
		{"missing name", "[[cluster]]\nkind = \"host\"\n", []want{{1, "cluster[0].name", "is required"}}},
		{"missing kind", "[[cluster]]\nname = \"hpc\"\n", []want{{1, "cluster[0].kind", "is required"}}},
		{"unknown kind", "[[cluster]]\nname = \"hpc\"\nkind = \"pbs\"\n", []want{{3, "cluster[0].kind", `unknown kind "pbs"`}}},
		{"kubernetes without prometheus_url", "\n[[cluster]]\nname = \"hub\"\nkind = \"kubernetes\"\n",
			[]want{{2, "cluster[0].prometheus_url", "is required for kubernetes clusters"}}},
		{"bad prometheus_url", "[[cluster]]\nname = \"hub\"\nkind = \"kubernetes\"\nprometheus_url = \"prometheus:9090\"\n",
			[]want{{4, "cluster[0].prometheus_url", "invalid URL"}}},
		{"prometheus_url without host", "[[cluster]]\nname = \"hub\"\nkind = \"kubernetes\"\nprometheus_url = \"http:///api\"\n",
			[]want{{4, "cluster[0].prometheus_url", "no host"}}},
		{"key of another kind", slurmCluster + "prometheus_url = \"https://prom\"\n",
			[]want{{4, "cluster[0].prometheus_url", "only used by kubernetes clusters, and this one is slurm"}}},
		{"slurm key on a host", "[[cluster]]\nname = \"ws\"\nkind = \"host\"\noverlap = \"1h\"\n",
			[]want{{4, "cluster[0].overlap", "only used by slurm clusters"}}},
		{"unclosed quote in a command", slurmCluster + "sacct_command = \"ssh login 'sacct\"\n",
			[]want{{4, "cluster[0].sacct_command", "unclosed ' quote"}}},
		{"empty command", slurmCluster + "sacctmgr_command = \"  \"\n", []want{{4, "cluster[0].sacctmgr_command", "must not be empty"}}},
		{"bad cluster time zone", slurmCluster + "time_zone = \"CEST\"\n", []want{{4, "cluster[0].time_zone", `unknown time zone "CEST"`}}},
		{"slurm_cluster with a comma", slurmCluster + "slurm_cluster = \"a,b\"\n", []want{{4, "cluster[0].slurm_cluster", "without spaces or commas"}}},
		{"bad label key", k8sCluster + "user_label = \"hub.jupyter.org/user name\"\n", []want{{5, "cluster[0].user_label", "invalid Kubernetes label key"}}},
		{"bad label prefix", k8sCluster + "namespace_label = \"Example.EDU/group\"\n", []want{{5, "cluster[0].namespace_label", "prefix"}}},

		// Filesystems.
		{"unknown filesystem kind", "[[filesystem]]\nname = \"home\"\nkind = \"nfs\"\npath = \"/home\"\n",
			[]want{{3, "filesystem[0].kind", `unknown kind "nfs"`}}},
		{"walk without path", "[[filesystem]]\nname = \"data\"\nkind = \"walk\"\n", []want{{1, "filesystem[0].path", "is required for walk"}}},
		{"walk with a command", "[[filesystem]]\nname = \"data\"\nkind = \"walk\"\npath = \"/data\"\ncommand = \"du -s\"\n",
			[]want{{5, "filesystem[0].command", "not used by walk"}}},
		{"quota without path or command", "[[filesystem]]\nname = \"home\"\nkind = \"repquota\"\n", []want{{1, "filesystem[0]", "need path"}}},
		{"relative path", "[[filesystem]]\nname = \"home\"\nkind = \"lfs\"\npath = \"lustre/home\"\n", []want{{4, "filesystem[0].path", "absolute path"}}},
		{"duplicate filesystem names", "[[filesystem]]\nname = \"home\"\nkind = \"zfs\"\npath = \"tank/home\"\n" +
			"[[filesystem]]\nname = \"home\"\nkind = \"mmrepquota\"\npath = \"gpfs0\"\n",
			[]want{{6, "filesystem[1].name", "duplicate filesystem name"}}},
		{"same name for a cluster and a filesystem is fine", slurmCluster + "[[filesystem]]\nname = \"hpc\"\nkind = \"walk\"\npath = \"/hpc\"\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assertProblems(t, check(tt.src), tt.want)
		})
	}
}

func TestCheckReportsEveryProblem(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		want []want
	}{
		{
			name: "semantic problems all over",
			src: `[site]
name = "Example"
tim_zone = "Europe/Berlin"
currency = "EURO"

[server]
listen = "localhost"

[collectors.slurm]
interval = "fifteen minutes"

[[cluster]]
name = "hpc"
kind = "slurm"
time_zone = "Europe/Berln"

[[cluster]]
name = "hpc"
kind = "kubernetes"
user_label = "hub.jupyter.org/username"

[[cluster]]
name = "GPU"
kind = "slurn"

[[filesystem]]
name = "scratch"
kind = "walk"
`,
			want: []want{
				{3, "site.tim_zone", "unknown key"},
				{4, "site.currency", "invalid currency code"},
				{7, "server.listen", "use host:port"},
				{10, "collectors.slurm.interval", "invalid duration"},
				{15, "cluster[0].time_zone", "unknown time zone"},
				{17, "cluster[1].prometheus_url", "is required"},
				{18, "cluster[1].name", "duplicate cluster name"},
				{23, "cluster[2].name", "invalid name"},
				{24, "cluster[2].kind", "unknown kind"},
				{26, "filesystem[0].path", "is required for walk"},
			},
		},
		{
			name: "syntax errors, then problems after them",
			src: `[site]
name = "Example
currency = "XYZ"

[[cluster]]
name = hpc
kind = "slurm"
overlap = "6 hours"
`,
			want: []want{
				{2, "", "syntax error"},
				{3, "site.currency", "unknown currency code"},
				{6, "", "syntax error"},
				{8, "cluster[0].overlap", "invalid duration"},
				// cluster[0].name is not "required": it was on a broken line.
			},
		},
		{
			name: "a broken table header skips its section only",
			src: `[site]
time_zone = "Mars/Olympus"

[[cluster]
name = "hpc"
kind = "nonsense"

[[cluster]]
name = "hub"
kind = "kubernetes"
prometheus_url = "ftp://prom"
`,
			want: []want{
				{2, "site.time_zone", "unknown time zone"},
				{4, "", "syntax error"},
				{11, "cluster[0].prometheus_url", "must start with http"},
			},
		},
		{
			name: "an unclosed multi-line string stops the check",
			src:  "[site]\nname = \"\"\"Example\ncurrency = \"XYZ\"\n",
			want: []want{{3, "", "syntax error"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assertProblems(t, check(tt.src), tt.want)
		})
	}
}

func TestCheckReadsFile(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, "[site]\ncurrency = \"XYZ\"\n")
	ps := Check(path)
	if len(ps) != 1 || ps[0].File != path || ps[0].Line != 2 {
		t.Errorf("Check = %v, want one problem on line 2 of %s", ps, path)
	}
}

func TestCurrencyMinorDigits(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		code string
		want int
	}{
		{"USD", 2}, {"EUR", 2}, {"CHF", 2}, {"IDR", 2}, {"JPY", 0}, {"KRW", 0},
		{"KWD", 3}, {"CLF", 4}, {"XYZ", -1}, {"usd", -1}, {"", -1},
	} {
		if got := (Site{Currency: tt.code}).CurrencyMinorDigits(); got != tt.want {
			t.Errorf("CurrencyMinorDigits(%q) = %d, want %d", tt.code, got, tt.want)
		}
	}
}

func TestSplitCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"sacct", []string{"sacct"}, ""},
		{"  /usr/bin/sacct  ", []string{"/usr/bin/sacct"}, ""},
		{"ssh -o BatchMode=yes login1 sacct", []string{"ssh", "-o", "BatchMode=yes", "login1", "sacct"}, ""},
		{`xfs_quota -x -c 'report -u -n' /home`, []string{"xfs_quota", "-x", "-c", "report -u -n", "/home"}, ""},
		{`a "b c" d`, []string{"a", "b c", "d"}, ""},
		{`a "say \"hi\" \n"`, []string{"a", `say "hi" \n`}, ""},
		{`a\ b c`, []string{"a b", "c"}, ""},
		{`a '' b`, []string{"a", "", "b"}, ""},
		{`'$HOME' "$HOME"`, []string{"$HOME", "$HOME"}, ""},
		{"", nil, "empty command"},
		{"   ", nil, "empty command"},
		{`ssh 'sacct`, nil, "unclosed ' quote"},
		{`ssh "sacct`, nil, `unclosed " quote`},
		{`ssh sacct\`, nil, "lone backslash"},
	}
	for _, tt := range tests {
		got, err := SplitCommand(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("SplitCommand(%q) error = %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestDurationText(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"15m", 15 * time.Minute, false},
		{"1h30m", 90 * time.Minute, false},
		{"0s", 0, false},
		{"15", 0, true},
		{"1d", 0, true},
		{"", 0, true},
	} {
		var d Duration
		err := d.UnmarshalText([]byte(tt.in))
		if (err != nil) != tt.wantErr || d.Duration != tt.want {
			t.Errorf("UnmarshalText(%q) = %v, %v; want %v, error %v", tt.in, d.Duration, err, tt.want, tt.wantErr)
		}
		if err == nil {
			text, _ := d.MarshalText()
			var back Duration
			if err := back.UnmarshalText(text); err != nil || back != d {
				t.Errorf("MarshalText(%v) = %q, which reads back as %v, %v", d.Duration, text, back.Duration, err)
			}
		}
	}
}

func TestValidateCodeBuiltConfig(t *testing.T) {
	t.Parallel()
	cfg := Default()
	cfg.Site.TimeZone = "Nowhere/Special"
	cfg.Clusters = []Cluster{{Name: "hpc", Kind: KindSlurm}}
	err := cfg.Validate()
	var ps Problems
	if !errors.As(err, &ps) {
		t.Fatalf("Validate() = %v, want Problems", err)
	}
	// Without a file there are no lines, and unset fields are not
	// defaulted: a Config built in code must be complete.
	assertProblems(t, ps, []want{
		{0, "site.time_zone", "unknown time zone"},
		{0, "cluster[0].slurm_cluster", "must not be empty"},
		{0, "cluster[0].sacct_command", "must not be empty"},
		{0, "cluster[0].sacctmgr_command", "must not be empty"},
		{0, "cluster[0].time_zone", "is required"},
	})
}
