// Package config reads Parsimony's one configuration file, a TOML document
// (see parsimony.example.toml at the repository root for every key).
//
// Load is what the commands use: it parses the file, fills in defaults,
// applies environment overrides and validates the result. Check is what
// `parsimony config check` uses: it reports every problem in a file at once,
// each with its line and key, so an admin can fix a file in one pass instead of
// one error per run.
package config

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Config is the whole configuration. The toml tags are the file's key names;
// the decoder in this package reads them, and any TOML encoder can write a
// Config back out.
type Config struct {
	Site       Site       `toml:"site"`
	Database   Database   `toml:"database"`
	Server     Server     `toml:"server"`
	Auth       Auth       `toml:"auth"`
	Collectors Collectors `toml:"collectors"`
	// Clusters come from the [[cluster]] array of tables.
	Clusters []Cluster `toml:"cluster"`
	// Filesystems come from the [[filesystem]] array of tables.
	Filesystems []Filesystem `toml:"filesystem"`
}

// Site describes the institution as a whole.
type Site struct {
	// Name is shown in page titles and on statements.
	Name string `toml:"name"`
	// TimeZone is an IANA name (e.g. "Europe/Berlin"). Days and months — and
	// so the splitting of usage across them — follow this zone.
	TimeZone string `toml:"time_zone"`
	// Currency is an ISO 4217 code (e.g. "EUR").
	Currency string `toml:"currency"`
	// FiscalYearStart is the month (1–12) the fiscal year starts in, for
	// yearly budgets. Default: 1 (January).
	FiscalYearStart int `toml:"fiscal_year_start"`
	// MaxRecordDays is the longest span one usage record may cover; longer ones
	// are quarantined with the reason (a job "running" to year 9999 is a broken
	// record, and would otherwise be split into every day up to it). Default: 366.
	MaxRecordDays int `toml:"max_record_days"`
}

// CurrencyMinorDigits is the number of digits after the decimal point of the
// site's currency according to ISO 4217 (2 for USD and EUR, 0 for JPY, 3 for
// KWD). Statement lines are rounded to it. It is -1 for a code that is not a
// current ISO 4217 currency, which Validate reports.
func (s Site) CurrencyMinorDigits() int {
	d, ok := currencyMinorDigits[s.Currency]
	if !ok {
		return -1
	}
	return d
}

// Database locates the PostgreSQL ledger.
type Database struct {
	// URL is a PostgreSQL connection string, either a URL
	// ("postgres://user@host/db?sslmode=verify-full") or libpq key=value
	// settings. PARSIMONY_DATABASE_URL, then DATABASE_URL, override it.
	URL string `toml:"url"`
}

// Server configures `parsimony serve`.
type Server struct {
	// Listen is the host:port the HTTP server binds to.
	Listen string `toml:"listen"`
	// BaseURL is the public address of the web app as users reach it
	// (behind a proxy), used for absolute links in e-mails and exports.
	// Empty means: derive it from each request.
	BaseURL string `toml:"base_url"`
}

// Auth says how people sign in to the web app. Any combination may be set.
type Auth struct {
	// OIDCIssuer is the OpenID Connect provider's issuer URL (Keycloak,
	// CILogon, Entra ID, Google); discovery is read from it. Empty: no OIDC.
	OIDCIssuer string `toml:"oidc_issuer"`
	// OIDCClientID is this app's client id at the provider.
	OIDCClientID string `toml:"oidc_client_id"`
	// OIDCClientSecret is its secret (empty for a public client). The
	// environment variable PARSIMONY_OIDC_CLIENT_SECRET overrides it, so the
	// file need not hold it.
	OIDCClientSecret string `toml:"oidc_client_secret"`
	// OIDCLoginClaim is the ID token claim holding the login that users and
	// Slurm know. Default: "preferred_username".
	OIDCLoginClaim string `toml:"oidc_login_claim"`
	// OIDCLoginStrip is a suffix the claim must end with and that is cut off,
	// e.g. "@example.edu" turns alice@example.edu into alice.
	OIDCLoginStrip string `toml:"oidc_login_strip"`
	// ProxyHeader names the header a trusted reverse proxy (Shibboleth,
	// mod_auth_openidc, oauth2-proxy) sends the signed-in login in, e.g.
	// "X-Remote-User". Honoured only from TrustedProxies.
	ProxyHeader string `toml:"proxy_header"`
	// TrustedProxies are the addresses or CIDR ranges (e.g. "127.0.0.1/32")
	// whose ProxyHeader is believed.
	TrustedProxies []string `toml:"trusted_proxies"`
	// InsecureCookies drops the Secure flag of the session cookie: only for
	// plain-HTTP testing. Default false.
	InsecureCookies bool `toml:"insecure_cookies"`
	// SessionIdleTimeout is how long a sign-in lasts without use. Default: 12h.
	SessionIdleTimeout Duration `toml:"session_idle_timeout"`
	// SessionLifetime is how long a sign-in lasts at most, however much it is
	// used; then the person signs in again. Default: 168h (7 days).
	SessionLifetime Duration `toml:"session_lifetime"`
}

// Collectors holds how often each kind of source is read.
type Collectors struct {
	Slurm      Collector `toml:"slurm"`
	Kubernetes Collector `toml:"kubernetes"`
	// Host is the sampling interval of the cgroup agent on shared machines.
	Host    Collector `toml:"host"`
	Storage Collector `toml:"storage"`
}

// Collector is the schedule of one source.
type Collector struct {
	Interval Duration `toml:"interval"`
}

// ClusterKind says what a cluster is and so which collector reads it.
type ClusterKind string

// The cluster kinds.
const (
	KindSlurm      ClusterKind = "slurm"
	KindKubernetes ClusterKind = "kubernetes"
	// KindHost is a set of shared machines whose agents report cgroup usage.
	KindHost ClusterKind = "host"
)

var clusterKinds = []ClusterKind{KindSlurm, KindKubernetes, KindHost}

// Cluster is one [[cluster]] table. Fields tagged with `kind` are only
// meaningful for that kind; setting one on a cluster of another kind is
// reported, because it almost always means a mistake in the kind.
type Cluster struct {
	// Name is the cluster's slug in the ledger ("hpc", "gpu-2024"): lower
	// case letters, digits and single hyphens. It is part of every usage
	// row's key, so renaming a cluster splits its history.
	Name string      `toml:"name"`
	Kind ClusterKind `toml:"kind"`

	// SlurmCluster is the name slurmdbd knows the cluster by, passed to
	// sacct and sacctmgr as --clusters. Default: Name.
	SlurmCluster string `toml:"slurm_cluster" kind:"slurm"`
	// SacctCommand is the command line that runs sacct; the collector
	// appends its own arguments. It may be a wrapper such as
	// "ssh login1 sacct". Split with SplitCommand. Default: "sacct".
	SacctCommand string `toml:"sacct_command" kind:"slurm"`
	// SacctmgrCommand is the same for sacctmgr. Default: "sacctmgr".
	SacctmgrCommand string `toml:"sacctmgr_command" kind:"slurm"`
	// Overlap is how far before the end of the previous run each run starts
	// reading again, so that jobs that finish or are corrected late are
	// revised in place. Default: 6h.
	Overlap Duration `toml:"overlap" kind:"slurm"`
	// TimeZone is the IANA zone sacct prints its local times in.
	// Default: the site's time zone.
	TimeZone string `toml:"time_zone" kind:"slurm"`

	// PrometheusURL is the base URL of the Prometheus HTTP API holding the
	// cluster's cAdvisor and kube-state-metrics series. Required.
	PrometheusURL string `toml:"prometheus_url" kind:"kubernetes"`
	// NamespaceLabel is a Kubernetes namespace label whose value names the
	// group that pays for the namespace. Empty: namespaces are mapped to
	// groups in the ledger only.
	NamespaceLabel string `toml:"namespace_label" kind:"kubernetes"`
	// UserLabel is the pod label whose value names the user.
	// Default: "hub.jupyter.org/username". Set to "" to not attribute pods
	// to users.
	UserLabel string `toml:"user_label" kind:"kubernetes"`
}

// FilesystemKind says how a filesystem's usage is read.
type FilesystemKind string

// The filesystem kinds: one per quota tool, and a directory walk for
// filesystems without quotas.
const (
	FSRepquota   FilesystemKind = "repquota"
	FSXFSQuota   FilesystemKind = "xfs_quota"
	FSLfs        FilesystemKind = "lfs"
	FSZFS        FilesystemKind = "zfs"
	FSMmrepquota FilesystemKind = "mmrepquota"
	FSWalk       FilesystemKind = "walk"
)

var filesystemKinds = []FilesystemKind{FSRepquota, FSXFSQuota, FSLfs, FSZFS, FSMmrepquota, FSWalk}

// Filesystem is one [[filesystem]] table.
type Filesystem struct {
	// Name is the filesystem's slug in the ledger ("home", "scratch").
	Name string         `toml:"name"`
	Kind FilesystemKind `toml:"kind"`
	// Command is the full command line whose output the collector parses,
	// for when the default invocation of the kind's tool does not fit
	// (a wrapper, ssh, sudo). Split with SplitCommand.
	Command string `toml:"command"`
	// Path is what the kind's tool is pointed at: the mount point (repquota,
	// xfs_quota, lfs, walk), the dataset or mount point (zfs) or the device
	// (mmrepquota). A walk needs it; the others need Path or Command.
	Path string `toml:"path"`
}

// Defaults that are not a fixed part of Default(): they depend on a
// cluster's kind.
const (
	defaultSacctCommand    = "sacct"
	defaultSacctmgrCommand = "sacctmgr"
	defaultOverlap         = 6 * time.Hour
	defaultUserLabel       = "hub.jupyter.org/username"
)

// Default returns the configuration used when there is no file (as by
// `parsimony demo`), and the base that a file's keys are laid over.
func Default() Config {
	return Config{
		Site: Site{
			Name:     "Parsimony",
			TimeZone: "UTC",
			Currency: "USD",

			FiscalYearStart: 1,
			MaxRecordDays:   366,
		},
		Server: Server{
			Listen: "127.0.0.1:8080",
		},
		Auth: Auth{
			SessionIdleTimeout: Duration{12 * time.Hour},
			SessionLifetime:    Duration{7 * 24 * time.Hour},
		},
		Collectors: Collectors{
			Slurm:      Collector{Interval: Duration{15 * time.Minute}},
			Kubernetes: Collector{Interval: Duration{15 * time.Minute}},
			Host:       Collector{Interval: Duration{time.Minute}},
			Storage:    Collector{Interval: Duration{time.Hour}},
		},
	}
}

// Problem is one thing wrong with a configuration.
type Problem struct {
	// File is the path of the file, as given; empty for a Config that did
	// not come from a file.
	File string
	// Line is 1-based; 0 when the problem has no single line (a file that
	// cannot be read, a value from the environment).
	Line int
	// Key is the TOML path of the offending key with 0-based array
	// indexes, e.g. "cluster[2].name"; empty for syntax errors.
	Key     string
	Message string
}

// String formats p like a compiler error:
// "parsimony.toml:12: cluster[1].time_zone: unknown time zone "Europe/Berln"".
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			fmt.Fprintf(&b, ":%d", p.Line)
		}
		b.WriteString(": ")
	} else if p.Line > 0 {
		fmt.Fprintf(&b, "line %d: ", p.Line)
	}
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// Problems is the error Load and Validate return when a configuration is
// invalid; use errors.As to get at the individual problems.
type Problems []Problem

// Error puts one problem per line.
func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// asError keeps a nil slice from becoming a non-nil error interface.
func (ps Problems) asError() error {
	if len(ps) == 0 {
		return nil
	}
	return ps
}

// Environment variables that override the file. PARSIMONY_DATABASE_URL exists
// so that a Parsimony-specific value can win over a DATABASE_URL that a
// platform (a PaaS, a shared container environment) sets for other programs.
const (
	EnvDatabaseURL        = "PARSIMONY_DATABASE_URL"
	EnvDatabaseURLGeneric = "DATABASE_URL"
)

// Load reads the file at path, lays it over Default(), fills in the defaults
// that depend on other keys, applies environment overrides and validates the
// result. An empty path means no file: Default() with the overrides.
//
// A file that cannot be read gives an error wrapping the os error (so
// errors.Is(err, fs.ErrNotExist) works); an invalid configuration gives a
// Problems error listing every problem.
func Load(path string) (Config, error) {
	return load(path, os.LookupEnv)
}

// load is Load with the environment passed in, so tests need not touch the
// process's environment.
func load(path string, lookupEnv func(string) (string, bool)) (Config, error) {
	if path == "" {
		cfg := Default()
		from := cfg.applyEnv(lookupEnv)
		if ps := validate(cfg, &document{}, from); len(ps) > 0 {
			return Config{}, ps
		}
		return cfg, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	cfg, doc, ps := decode(path, data)
	from := cfg.applyEnv(lookupEnv)
	ps = append(ps, validate(cfg, doc, from)...)
	if len(ps) > 0 {
		sortProblems(ps)
		return Config{}, Problems(ps)
	}
	return cfg, nil
}

// Check reports every problem in the file at path: TOML syntax errors,
// unknown keys, values of the wrong type, and invalid values, each with its
// line and key, in line order. It does not apply environment overrides — it
// checks the file, not the process. An empty result means the file is good.
func Check(path string) []Problem {
	data, err := os.ReadFile(path)
	if err != nil {
		return []Problem{{File: path, Message: err.Error()}}
	}
	return checkData(path, data)
}

// checkData is Check on bytes already read.
func checkData(name string, data []byte) []Problem {
	cfg, doc, ps := decode(name, data)
	ps = append(ps, validate(cfg, doc, "")...)
	sortProblems(ps)
	return ps
}

// Validate checks a Config built in code (or Default()) by the same rules a
// file is checked by, and returns a Problems error or nil. Nothing fills in
// the kind-dependent defaults of such a Config (sacct_command, overlap, …),
// so it must set them itself. Its problems have no File or Line.
func (c Config) Validate() error {
	return Problems(validate(c, &document{}, "")).asError()
}

// applyEnv applies the environment overrides and returns the name of the
// variable the database URL came from, or "" if it came from the file.
// Empty variables count as unset, as a shell's `DATABASE_URL=` usually means.
func (c *Config) applyEnv(lookupEnv func(string) (string, bool)) string {
	for _, name := range []string{EnvDatabaseURL, EnvDatabaseURLGeneric} {
		if v, ok := lookupEnv(name); ok && v != "" {
			c.Database.URL = v
			return name
		}
	}
	return ""
}
