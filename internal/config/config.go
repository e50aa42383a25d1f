// Package config holds jnedu's configuration and loads it from, in rising
// priority: built-in defaults, an optional TOML file, JNEDU_* environment
// variables (and DATABASE_URL), and command-line flags.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is everything the program can be told. It is passed explicitly.
type Config struct {
	Listen      string `toml:"listen"`       // address for serve, default 127.0.0.1:8080
	DataDir     string `toml:"data_dir"`     // data folder: SQLite file, blobs, backups
	DatabaseURL string `toml:"database_url"` // "" = SQLite file in DataDir; postgres://... for PostgreSQL
	BaseURL     string `toml:"base_url"`     // public address, e.g. https://jnedu.example.cn
	BlobURL     string `toml:"blob_url"`     // "" = DATA/blobs; s3://ACCESS:SECRET@host:port/bucket/prefix for S3-compatible storage
	Demo        bool   `toml:"demo"`         // demo mode: demo accounts keep their known passwords
	LogLevel    string `toml:"log_level"`    // debug, info, warn, error
	LogFormat   string `toml:"log_format"`   // text or json

	SessionTTL         Duration `toml:"session_ttl"`          // idle lifetime of a session
	SessionMaxAge      Duration `toml:"session_max_age"`      // absolute lifetime of a session
	AuditRetentionDays int      `toml:"audit_retention_days"` // audit records older than this are pruned (>= 180)
	TrustedProxies     []string `toml:"trusted_proxies"`      // CIDRs whose X-Forwarded-* headers are believed
	MetricsAllow       []string `toml:"metrics_allow"`        // CIDRs that may read /metrics (the client's address, after trusted proxies)

	LoginMaxFailures int      `toml:"login_max_failures"` // failures before a temporary lockout
	LoginLockout     Duration `toml:"login_lockout"`      // how long a lockout lasts
	MaxBodyBytes     int64    `toml:"max_body_bytes"`     // JSON and form bodies
	MaxImportBytes   int64    `toml:"max_import_bytes"`   // spreadsheet uploads
	MaxImportRows    int      `toml:"max_import_rows"`

	// Video sharing.
	VideoWorkers      int    `toml:"video_workers"`       // processing jobs at once on this server (default 1)
	VideoPreset       string `toml:"video_preset"`        // libx264 preset of the ladder (default veryfast)
	VideoKeepOriginal bool   `toml:"video_keep_original"` // keep uploaded originals after processing (default true)
	VideoMaxUploadGB  int64  `toml:"video_max_upload_gb"` // one file (default 50)
	VideoUserQuotaGB  int64  `toml:"video_user_quota_gb"` // per person (default 200)
	VideoOrgQuotaGB   int64  `toml:"video_org_quota_gb"`  // per school (default 2048)

	// Learning-record store (xAPI).
	LRSMaxBodyMB       int64 `toml:"lrs_max_body_mb"`       // one statement or document request, attachments included (default 64)
	LRSMaxBatch        int   `toml:"lrs_max_batch"`         // statements in one POST (default 1000)
	LRSMaxAttachmentMB int64 `toml:"lrs_max_attachment_mb"` // one attachment (default 32)
	LRSMaxDocumentKB   int64 `toml:"lrs_max_document_kb"`   // one state or profile document (default 4096)
	LRSPageSize        int   `toml:"lrs_page_size"`         // most statements in one GET page (default 500)

	// Indicators: groups smaller than this are hidden from aggregate views.
	InsightMinGroup int `toml:"insight_min_group"` // default 5

	// ConfigFile is the file that was read, if any (not a file key).
	ConfigFile string `toml:"-"`
}

// Duration is a time.Duration that reads "30m", "12h" from TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText prints the duration.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Default returns the built-in defaults.
func Default() Config {
	return Config{
		Listen:             "127.0.0.1:8080",
		DataDir:            "./data",
		LogLevel:           "info",
		LogFormat:          "text",
		SessionTTL:         Duration{8 * time.Hour},
		SessionMaxAge:      Duration{7 * 24 * time.Hour},
		AuditRetentionDays: 400,
		LoginMaxFailures:   5,
		LoginLockout:       Duration{15 * time.Minute},
		MaxBodyBytes:       1 << 20,
		MaxImportBytes:     20 << 20,
		MaxImportRows:      50000,
		VideoWorkers:       1,
		VideoPreset:        "veryfast",
		VideoKeepOriginal:  true,
		VideoMaxUploadGB:   50,
		VideoUserQuotaGB:   200,
		VideoOrgQuotaGB:    2048,
		LRSMaxBodyMB:       64,
		LRSMaxBatch:        1000,
		LRSMaxAttachmentMB: 32,
		LRSMaxDocumentKB:   4096,
		LRSPageSize:        500,
		InsightMinGroup:    5,
		MetricsAllow:       DefaultMetricsAllow,
	}
}

// DefaultMetricsAllow lets the loopback and the private networks read
// /metrics: a Prometheus on the same host or the same LAN, not the public.
var DefaultMetricsAllow = []string{"127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"}

// MinAuditRetentionDays is the legal minimum (Cybersecurity Law art. 21:
// network logs are kept no less than six months).
const MinAuditRetentionDays = 180

// Bind registers the flags every command shares on fs, writing into the
// returned pointers; call Load after fs.Parse.
type Flags struct {
	fs      *flag.FlagSet
	config  *string
	listen  *string
	dataDir *string
	dbURL   *string
	demo    *bool
	logLvl  *string
}

// Register adds the shared flags to fs.
func Register(fs *flag.FlagSet) *Flags {
	return &Flags{
		fs:      fs,
		config:  fs.String("config", "", "config file (TOML); env JNEDU_CONFIG"),
		listen:  fs.String("listen", "", "listen address (default 127.0.0.1:8080); env JNEDU_LISTEN"),
		dataDir: fs.String("data", "", "data folder (default ./data); env JNEDU_DATA_DIR"),
		dbURL:   fs.String("database-url", "", "database URL (default: SQLite in the data folder); env DATABASE_URL"),
		demo:    fs.Bool("demo", false, "demo mode: load demo data, keep demo passwords; env JNEDU_DEMO"),
		logLvl:  fs.String("log-level", "", "debug, info, warn or error; env JNEDU_LOG_LEVEL"),
	}
}

// Load builds the Config: defaults, then the file, then env, then flags
// that were set explicitly.
func (f *Flags) Load(getenv func(string) string) (Config, error) {
	c := Default()
	file := getenv("JNEDU_CONFIG")
	if *f.config != "" {
		file = *f.config
	}
	if file != "" {
		md, err := toml.DecodeFile(file, &c)
		if err != nil {
			return c, fmt.Errorf("config file %s: %w", file, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return c, fmt.Errorf("config file %s: unknown key %q", file, und[0].String())
		}
		c.ConfigFile = file
	}
	if err := applyEnv(&c, getenv); err != nil {
		return c, err
	}
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	if set["listen"] {
		c.Listen = *f.listen
	}
	if set["data"] {
		c.DataDir = *f.dataDir
	}
	if set["database-url"] {
		c.DatabaseURL = *f.dbURL
	}
	if set["demo"] {
		c.Demo = *f.demo
	}
	if set["log-level"] {
		c.LogLevel = *f.logLvl
	}
	return c, c.Validate()
}

func applyEnv(c *Config, getenv func(string) string) error {
	str := map[string]*string{
		"JNEDU_LISTEN":     &c.Listen,
		"JNEDU_DATA_DIR":   &c.DataDir,
		"DATABASE_URL":     &c.DatabaseURL,
		"JNEDU_BASE_URL":   &c.BaseURL,
		"JNEDU_BLOB_URL":   &c.BlobURL,
		"JNEDU_LOG_LEVEL":  &c.LogLevel,
		"JNEDU_LOG_FORMAT": &c.LogFormat,
	}
	for k, p := range str {
		if v := getenv(k); v != "" {
			*p = v
		}
	}
	if v := getenv("JNEDU_DATABASE_URL"); v != "" {
		c.DatabaseURL = v
	}
	if v := getenv("JNEDU_DEMO"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("JNEDU_DEMO: %w", err)
		}
		c.Demo = b
	}
	if v := getenv("JNEDU_AUDIT_RETENTION_DAYS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("JNEDU_AUDIT_RETENTION_DAYS: %w", err)
		}
		c.AuditRetentionDays = n
	}
	if v := getenv("JNEDU_TRUSTED_PROXIES"); v != "" {
		c.TrustedProxies = strings.Split(v, ",")
	}
	if v := getenv("JNEDU_METRICS_ALLOW"); v != "" {
		c.MetricsAllow = strings.Split(v, ",")
	}
	for k, p := range map[string]*Duration{"JNEDU_SESSION_TTL": &c.SessionTTL, "JNEDU_LOGIN_LOCKOUT": &c.LoginLockout} {
		if v := getenv(k); v != "" {
			if err := p.UnmarshalText([]byte(v)); err != nil {
				return fmt.Errorf("%s: %w", k, err)
			}
		}
	}
	return nil
}

// Validate checks the values and fills derived ones.
func (c *Config) Validate() error {
	var errs []error
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		errs = append(errs, fmt.Errorf("listen %q: %w", c.Listen, err))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data folder must not be empty"))
	} else if abs, err := filepath.Abs(c.DataDir); err == nil {
		c.DataDir = abs
	}
	if c.AuditRetentionDays < MinAuditRetentionDays {
		errs = append(errs, fmt.Errorf("audit_retention_days %d is below the legal minimum of %d days", c.AuditRetentionDays, MinAuditRetentionDays))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log level %q: want debug, info, warn or error", c.LogLevel))
	}
	if c.SessionTTL.Duration < time.Minute || c.SessionMaxAge.Duration < c.SessionTTL.Duration {
		errs = append(errs, fmt.Errorf("session_ttl %s must be at least 1m and at most session_max_age %s", c.SessionTTL, c.SessionMaxAge))
	}
	if c.LoginMaxFailures < 1 {
		errs = append(errs, errors.New("login_max_failures must be at least 1"))
	}
	if c.MaxBodyBytes < 1024 || c.MaxImportBytes < 1024 || c.MaxImportRows < 1 {
		errs = append(errs, errors.New("body and import limits are too small"))
	}
	switch c.VideoPreset {
	case "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow":
	default:
		errs = append(errs, fmt.Errorf("video_preset %q is not a libx264 preset", c.VideoPreset))
	}
	if c.VideoWorkers < 1 || c.VideoWorkers > 64 {
		errs = append(errs, fmt.Errorf("video_workers %d: want 1 to 64", c.VideoWorkers))
	}
	if c.LRSMaxBodyMB < 1 || c.LRSMaxBodyMB > 1024 || c.LRSMaxAttachmentMB < 1 || c.LRSMaxAttachmentMB > c.LRSMaxBodyMB {
		errs = append(errs, errors.New("lrs_max_body_mb must be 1 to 1024 and lrs_max_attachment_mb 1 to lrs_max_body_mb"))
	}
	if c.LRSMaxBatch < 1 || c.LRSMaxBatch > 100000 || c.LRSPageSize < 1 || c.LRSPageSize > 10000 {
		errs = append(errs, errors.New("lrs_max_batch must be 1 to 100000 and lrs_page_size 1 to 10000"))
	}
	if c.InsightMinGroup < 1 || c.InsightMinGroup > 100 {
		errs = append(errs, errors.New("insight_min_group must be 1 to 100"))
	}
	if c.LRSMaxDocumentKB < 1 || c.LRSMaxDocumentKB > c.LRSMaxBodyMB<<10 {
		errs = append(errs, errors.New("lrs_max_document_kb must be at least 1 and within lrs_max_body_mb"))
	}
	if c.VideoMaxUploadGB < 1 || c.VideoUserQuotaGB < 1 || c.VideoOrgQuotaGB < 1 {
		errs = append(errs, errors.New("video upload limits and quotas must be at least 1 GB"))
	}
	for _, l := range []struct {
		what string
		list []string
	}{{"trusted proxy", c.TrustedProxies}, {"metrics_allow", c.MetricsAllow}} {
		for _, p := range l.list {
			if _, err := netip.ParsePrefix(strings.TrimSpace(p)); err != nil {
				if _, err2 := netip.ParseAddr(strings.TrimSpace(p)); err2 != nil {
					errs = append(errs, fmt.Errorf("%s %q: %w", l.what, p, err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// BlobDir is where blobs live.
func (c Config) BlobDir() string { return filepath.Join(c.DataDir, "blobs") }

// Env is os.Getenv, for callers that have no special environment.
func Env(k string) string { return os.Getenv(k) }
