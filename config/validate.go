package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// validator collects the semantic problems of a decoded Config, each at the
// line of its key in doc (or of the key's table when the key is missing).
type validator struct {
	doc      *document
	problems []Problem
}

func (v *validator) add(key, format string, args ...any) {
	if v.doc.reported[key] {
		return
	}
	v.problems = append(v.problems, Problem{
		File:    v.doc.file,
		Line:    v.doc.line(key),
		Key:     key,
		Message: fmt.Sprintf(format, args...),
	})
}

// missing reports a required key that has no value, unless syntax recovery
// blanked lines — the key may well be on one of them.
func (v *validator) missing(key, format string, args ...any) {
	if v.doc.damaged {
		return
	}
	v.add(key, format, args...)
}

// validate checks everything a decoded Config must satisfy. dbFrom names the
// environment variable the database URL came from, "" for the file.
func validate(cfg Config, doc *document, dbFrom string) Problems {
	v := &validator{doc: doc}
	v.site(cfg.Site)
	v.database(cfg.Database, dbFrom)
	v.server(cfg.Server)
	v.collectors(cfg.Collectors)
	v.clusters(cfg)
	v.filesystems(cfg.Filesystems)
	v.auth(cfg.Auth)
	return v.problems
}

func (v *validator) site(s Site) {
	if strings.TrimSpace(s.Name) == "" {
		v.missing("site.name", "is required")
	}
	v.timeZone("site.time_zone", s.TimeZone)
	v.currency("site.currency", s.Currency)
	if s.MaxRecordDays < 1 || s.MaxRecordDays > 3660 {
		v.add("site.max_record_days", "must be a number of days from 1 to 3660 (ten years), not %d", s.MaxRecordDays)
	}
	if s.FiscalYearStart < 1 || s.FiscalYearStart > 12 {
		v.add("site.fiscal_year_start", "must be a month number from 1 (January) to 12, not %d", s.FiscalYearStart)
	}
}

func (v *validator) timeZone(key, tz string) {
	switch tz {
	case "":
		v.missing(key, `is required: an IANA time zone name, like "Europe/Berlin"`)
		return
	case "Local":
		// time.LoadLocation accepts it, but it means whatever zone the
		// machine running Parsimony happens to be in, and month totals must
		// not change with the server.
		v.add(key, `"Local" depends on the server's settings: name the zone, like "Europe/Berlin"`)
		return
	}
	if _, err := time.LoadLocation(tz); err != nil {
		v.add(key, "unknown time zone %q", tz)
	}
}

var currencyShape = regexp.MustCompile(`^[A-Z]{3}$`)

func (v *validator) currency(key, code string) {
	switch {
	case code == "":
		v.missing(key, `is required: an ISO 4217 code, like "EUR"`)
	case !currencyShape.MatchString(code):
		if _, ok := currencyMinorDigits[strings.ToUpper(code)]; ok {
			v.add(key, "invalid currency code %q: ISO 4217 codes are upper case, %q", code, strings.ToUpper(code))
			return
		}
		v.add(key, `invalid currency code %q: use a three-letter ISO 4217 code, like "EUR" or "USD"`, code)
	default:
		if _, ok := currencyMinorDigits[code]; !ok {
			v.add(key, "unknown currency code %q: not a current ISO 4217 currency", code)
		}
	}
}

func (v *validator) database(db Database, from string) {
	if db.URL == "" {
		// Not required here: `parsimony demo` runs its own database, and
		// the commands that need one say so when they start.
		return
	}
	msg := checkDatabaseURL(db.URL)
	if msg == "" {
		return
	}
	if from != "" {
		// The value is not in the file, so no line of it is to blame.
		v.problems = append(v.problems, Problem{
			File:    v.doc.file,
			Key:     "database.url",
			Message: fmt.Sprintf("%s (the value comes from $%s)", msg, from),
		})
		return
	}
	v.add("database.url", "%s", msg)
}

// urlLike tells a URL from libpq key=value settings, whose values may
// themselves contain "://".
var urlLike = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// checkDatabaseURL returns what is wrong with a PostgreSQL connection string,
// or "". The messages never quote the string: it may hold a password.
func checkDatabaseURL(s string) string {
	const hint = `use a URL like "postgres://parsimony@db.example.edu/parsimony" or key=value settings like "host=db.example.edu dbname=parsimony"`
	if !urlLike.MatchString(s) {
		if strings.Contains(s, "=") {
			return "" // libpq key=value settings; pgx parses them
		}
		return "is not a PostgreSQL connection string: " + hint
	}
	u, err := url.Parse(s)
	if err != nil {
		return "is not a valid URL (" + urlErrorReason(err) + "): " + hint
	}
	if u.Scheme != "postgres" && u.Scheme != "postgresql" {
		return fmt.Sprintf("URL scheme must be \"postgres\" or \"postgresql\", not %q", u.Scheme)
	}
	return ""
}

// urlErrorReason is url.Parse's complaint without the URL it quotes, which
// may hold credentials.
func urlErrorReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

func (v *validator) server(s Server) {
	if s.Listen == "" {
		v.missing("server.listen", `is required: host:port, like "127.0.0.1:8080"`)
	} else if _, port, err := net.SplitHostPort(s.Listen); err != nil || !validPort(port) {
		v.add("server.listen", `invalid listen address %q: use host:port, like "127.0.0.1:8080" or ":8080"`, s.Listen)
	}
	if s.BaseURL != "" {
		if msg := checkHTTPURL(s.BaseURL); msg != "" {
			v.add("server.base_url", "%s", msg)
		} else if u, _ := url.Parse(s.BaseURL); u.RawQuery != "" || u.Fragment != "" {
			v.add("server.base_url", "invalid URL %q: a base URL has no query or fragment", s.BaseURL)
		}
	}
}

func validPort(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n <= 65535
}

// checkHTTPURL returns what is wrong with an http(s) URL, or "".
func checkHTTPURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "is not a valid URL: " + urlErrorReason(err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Sprintf("invalid URL %q: must start with http:// or https://", u.Redacted())
	}
	if u.Host == "" {
		return fmt.Sprintf("invalid URL %q: no host", u.Redacted())
	}
	return ""
}

func (v *validator) auth(a Auth) {
	for _, d := range []struct {
		key string
		d   Duration
	}{{"auth.session_idle_timeout", a.SessionIdleTimeout}, {"auth.session_lifetime", a.SessionLifetime}} {
		if d.d.Duration < time.Minute {
			v.add(d.key, "must be at least a minute, not %s", d.d.Duration)
		}
	}
}

func (v *validator) collectors(c Collectors) {
	for _, s := range []struct {
		key string
		c   Collector
	}{
		{"collectors.slurm", c.Slurm},
		{"collectors.kubernetes", c.Kubernetes},
		{"collectors.host", c.Host},
		{"collectors.storage", c.Storage},
	} {
		if s.c.Interval.Duration <= 0 {
			v.add(s.key+".interval", "must be longer than zero, not %s", s.c.Interval.Duration)
		}
	}
}

// slug is a name that is safe in URLs, file names and ledger keys.
var slug = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// name checks a cluster's or filesystem's name and that it is unique among
// its kind; seen maps names to the key that used them first.
func (v *validator) name(key, name, what string, seen map[string]string) {
	switch {
	case name == "":
		v.missing(key, "is required")
		return
	case len(name) > 63 || !slug.MatchString(name):
		v.add(key, `invalid name %q: use at most 63 lower-case letters, digits and single hyphens, like "hpc-gpu"`, name)
	}
	if first, dup := seen[name]; dup {
		where := first
		if l := v.doc.line(first); l > 0 {
			where = fmt.Sprintf("%s on line %d", first, l)
		}
		v.add(key, "duplicate %s name %q (also used by %s)", what, name, where)
		return
	}
	seen[name] = key
}

func (v *validator) clusters(cfg Config) {
	seen := make(map[string]string)
	for i, c := range cfg.Clusters {
		p := fmt.Sprintf("cluster[%d]", i)
		v.name(p+".name", c.Name, "cluster", seen)

		switch {
		case c.Kind == "":
			v.missing(p+".kind", `is required: "slurm", "kubernetes" or "host"`)
			continue
		case !slices.Contains(clusterKinds, c.Kind):
			v.add(p+".kind", `unknown kind %q: use "slurm", "kubernetes" or "host"`, c.Kind)
			continue
		}
		v.kindOnlyKeys(p, c)

		switch c.Kind {
		case KindSlurm:
			if strings.TrimSpace(c.SlurmCluster) == "" {
				v.missing(p+".slurm_cluster", "must not be empty: leave it out to use the cluster's name")
			} else if strings.ContainsAny(c.SlurmCluster, ", \t") {
				v.add(p+".slurm_cluster", "invalid Slurm cluster name %q: one name, without spaces or commas", c.SlurmCluster)
			}
			v.command(p+".sacct_command", c.SacctCommand)
			v.command(p+".sacctmgr_command", c.SacctmgrCommand)
			if c.Overlap.Duration < 0 {
				v.add(p+".overlap", "must not be negative, not %s", c.Overlap.Duration)
			}
			// Inherited from the site, an invalid zone is the site's problem
			// and already reported there.
			if c.TimeZone != cfg.Site.TimeZone || v.doc.has(p+".time_zone") {
				v.timeZone(p+".time_zone", c.TimeZone)
			}
		case KindKubernetes:
			if c.PrometheusURL == "" {
				v.missing(p+".prometheus_url", "is required for kubernetes clusters: the base URL of the Prometheus that scrapes it")
			} else if msg := checkHTTPURL(c.PrometheusURL); msg != "" {
				v.add(p+".prometheus_url", "%s", msg)
			}
			v.labelKey(p+".namespace_label", c.NamespaceLabel)
			v.labelKey(p+".user_label", c.UserLabel)
		}
	}
}

// kindOnlyKeys reports keys written in the file that belong to another kind
// of cluster (the `kind` struct tag on Cluster's fields).
func (v *validator) kindOnlyKeys(p string, c Cluster) {
	typ := reflect.TypeFor[Cluster]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		kind := ClusterKind(f.Tag.Get("kind"))
		key := p + "." + tomlName(f)
		if kind != "" && kind != c.Kind && v.doc.has(key) {
			v.add(key, "is only used by %s clusters, and this one is %s", kind, c.Kind)
		}
	}
}

func (v *validator) command(key, cmd string) {
	if _, err := SplitCommand(cmd); err != nil {
		if errors.Is(err, errNoCommand) {
			v.missing(key, "must not be empty")
			return
		}
		v.add(key, "%v", err)
	}
}

var (
	labelName   = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)
	labelPrefix = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)
)

// labelKey checks a Kubernetes label key ("app", "hub.jupyter.org/username")
// by Kubernetes' own rules; empty is allowed and means "not used".
func (v *validator) labelKey(key, label string) {
	if label == "" {
		return
	}
	prefix, name, hasPrefix := strings.Cut(label, "/")
	if !hasPrefix {
		prefix, name = "", label
	}
	switch {
	case hasPrefix && (prefix == "" || len(prefix) > 253 || !labelPrefix.MatchString(prefix)):
		v.add(key, "invalid Kubernetes label key %q: the prefix before / must be a DNS name, like \"hub.jupyter.org\"", label)
	case len(name) > 63 || !labelName.MatchString(name):
		v.add(key, "invalid Kubernetes label key %q: the name must be at most 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit", label)
	}
}

func (v *validator) filesystems(fss []Filesystem) {
	seen := make(map[string]string)
	for i, fs := range fss {
		p := fmt.Sprintf("filesystem[%d]", i)
		v.name(p+".name", fs.Name, "filesystem", seen)

		switch {
		case fs.Kind == "":
			v.missing(p+".kind", "is required: one of %s", quotedList(filesystemKinds))
			continue
		case !slices.Contains(filesystemKinds, fs.Kind):
			v.add(p+".kind", "unknown kind %q: use one of %s", fs.Kind, quotedList(filesystemKinds))
			continue
		}

		if fs.Command != "" {
			if fs.Kind == FSWalk {
				v.add(p+".command", "is not used by walk filesystems: a walk reads the directory tree at path itself")
			} else {
				v.command(p+".command", fs.Command)
			}
		}
		switch {
		case fs.Kind == FSWalk && fs.Path == "":
			v.missing(p+".path", "is required for walk filesystems: the directory to walk")
		case fs.Path == "" && fs.Command == "":
			v.missing(p, "%s filesystems need path (what %s reads) or command (the full command line)", fs.Kind, fs.Kind)
		case fs.Path != "" && needsAbsolutePath(fs.Kind) && !path.IsAbs(fs.Path):
			v.add(p+".path", "must be an absolute path, like \"/home\", not %q", fs.Path)
		}
	}
}

// needsAbsolutePath: these tools take a mount point, while zfs also takes a
// dataset name and mmrepquota a device name.
func needsAbsolutePath(k FilesystemKind) bool {
	switch k {
	case FSRepquota, FSXFSQuota, FSLfs, FSWalk:
		return true
	}
	return false
}

func quotedList[T ~string](xs []T) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = strconv.Quote(string(x))
	}
	return strings.Join(q, ", ")
}

// sortProblems puts problems in line order, file-wide ones (line 0) first,
// keeping the order of problems on the same line.
func sortProblems(ps []Problem) {
	sort.SliceStable(ps, func(i, j int) bool { return ps[i].Line < ps[j].Line })
}
