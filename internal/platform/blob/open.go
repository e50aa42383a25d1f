package blob

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
)

// Environment variables that supply S3 credentials missing from a blob URL,
// in falling priority: the JNEDU_BLOB_* pair, then the AWS ones every S3
// tool knows.
const (
	EnvAccessKey    = "JNEDU_BLOB_ACCESS_KEY"
	EnvSecretKey    = "JNEDU_BLOB_SECRET_KEY"
	envAWSAccessKey = "AWS_ACCESS_KEY_ID"
	envAWSSecretKey = "AWS_SECRET_ACCESS_KEY"
	envAWSSession   = "AWS_SESSION_TOKEN"
)

// redacted stands for a secret in URLs and descriptions.
const redacted = "***"

// Open opens the blob store a URL names, so that configuration alone
// chooses between a folder on this machine and an S3-compatible service:
//
//	""                           the folder localRoot (Local)
//	/srv/jnedu/blobs             that folder; also file:///srv/jnedu/blobs
//	s3://host:port/bucket/prefix an S3 bucket (S3); see ParseS3URL
//
// Credentials missing from an s3 URL are read from the environment
// (EnvAccessKey, EnvSecretKey, else AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN). Errors never contain the
// secret key.
func Open(ctx context.Context, rawURL, localRoot string) (Store, error) {
	switch scheme := urlScheme(rawURL); scheme {
	case "":
		root := rawURL
		if root == "" {
			root = localRoot
		}
		return openLocal(root)
	case "file":
		root := strings.TrimPrefix(strings.TrimPrefix(rawURL, "file://"), "file:")
		if root == "" {
			return nil, errors.New("blob url: file: names no folder")
		}
		return openLocal(root)
	case "s3":
		cfg, err := ParseS3URL(rawURL, os.Getenv)
		if err != nil {
			return nil, err
		}
		s, err := OpenS3(ctx, cfg)
		if err != nil {
			return nil, err
		}
		return s, nil
	default:
		return nil, fmt.Errorf("blob url %s: unknown scheme %q (want a folder, file: or s3:)", RedactURL(rawURL), scheme)
	}
}

// openLocal is OpenLocal returning a Store (and a nil one on error).
func openLocal(root string) (Store, error) {
	l, err := OpenLocal(root)
	if err != nil {
		return nil, err
	}
	return l, nil
}

// urlScheme returns the lower-case scheme of a URL ("s3", "file"), or ""
// for a plain folder path.
func urlScheme(s string) string {
	if len(s) >= 5 && strings.EqualFold(s[:5], "file:") {
		return "file"
	}
	i := strings.Index(s, "://")
	if i <= 0 {
		return ""
	}
	scheme := s[:i]
	for j, c := range scheme {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (j == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "" // not a scheme: a folder whose name contains "://"
		}
	}
	return strings.ToLower(scheme)
}

// ParseS3URL reads an S3 store's configuration from a URL:
//
//	s3://ACCESS:SECRET@host:port/bucket/prefix?tls=false&region=cn-east-1
//
// The path is the bucket followed by the optional prefix (folder) inside
// it. Query parameters, all optional:
//
//	tls        true (default) for https, false for http
//	region     the bucket's region (default: ask the service)
//	lookup     auto (default), dns (bucket.host/key) or path (host/bucket/key)
//	part_size  multipart part size: bytes or 8MiB, 64MiB, 1GiB (default 16MiB)
//	parallel   parts of one upload sent at once (default 1)
//
// ACCESS and SECRET must be percent-encoded where they contain '/', '@',
// ':' or '%'; either may be left out of the URL and taken from getenv
// instead (see Open for the variables). getenv may be nil: the environment
// is then not consulted. Errors show the URL with the secret replaced by
// "***".
func ParseS3URL(rawURL string, getenv func(string) string) (S3Config, error) {
	// Errors show the URL without its secret, and without its query, where
	// a mistaken parameter might hold one.
	safe, _, _ := strings.Cut(RedactURL(rawURL), "?")
	fail := func(format string, args ...any) (S3Config, error) {
		return S3Config{}, fmt.Errorf("blob url %s: %s", safe, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Parse's error quotes the whole URL, secret included.
		return fail("not a valid URL")
	}
	if u.Scheme != "s3" {
		return fail("scheme %q is not s3", u.Scheme)
	}
	if u.Host == "" {
		return fail("no host")
	}
	if u.Fragment != "" {
		return fail("unexpected #fragment")
	}
	cfg := S3Config{Endpoint: u.Host, UseTLS: true}
	bucket, prefix, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !validBucketName(bucket) {
		return fail("bucket %q is not a valid bucket name (3 to 63 of a-z, 0-9, '.', '-')", bucket)
	}
	cfg.Bucket, cfg.Prefix = bucket, strings.Trim(prefix, "/")
	if strings.Contains(cfg.Prefix, "//") {
		return fail("prefix %q has an empty folder name", cfg.Prefix)
	}

	if u.User != nil {
		cfg.AccessKey = u.User.Username()
		cfg.SecretKey, _ = u.User.Password()
	}
	if getenv != nil {
		if cfg.AccessKey == "" && cfg.SecretKey == "" {
			cfg.AccessKey, cfg.SecretKey = getenv(EnvAccessKey), getenv(EnvSecretKey)
			if cfg.AccessKey == "" && cfg.SecretKey == "" {
				cfg.AccessKey, cfg.SecretKey = getenv(envAWSAccessKey), getenv(envAWSSecretKey)
				cfg.SessionToken = getenv(envAWSSession)
			}
		} else if cfg.SecretKey == "" {
			cfg.SecretKey = cmp.Or(getenv(EnvSecretKey), getenv(envAWSSecretKey))
		}
	}
	if cfg.AccessKey == "" || cfg.SecretKey == "" {
		return fail("no credentials: put ACCESS:SECRET@ in the URL or set %s and %s", EnvAccessKey, EnvSecretKey)
	}

	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return fail("bad query: %v", err)
	}
	for name, vals := range q {
		v := vals[len(vals)-1]
		switch name {
		case "tls":
			b, err := strconv.ParseBool(v)
			if err != nil {
				return fail("tls=%q is not true or false", v)
			}
			cfg.UseTLS = b
		case "region":
			cfg.Region = v
		case "lookup":
			if v != "auto" && v != "dns" && v != "path" {
				return fail("lookup=%q is not auto, dns or path", v)
			}
			cfg.BucketLookup = v
		case "part_size":
			n, err := parseSize(v)
			if err != nil || n < MinPartSize || n > MaxPartSize {
				return fail("part_size=%q is not a size between 5MiB and 5GiB", v)
			}
			cfg.PartSize = n
		case "parallel":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > maxParallel {
				return fail("parallel=%q is not a number from 1 to %d", v, maxParallel)
			}
			cfg.Parallel = n
		default:
			return fail("unknown parameter %q (want tls, region, lookup, part_size or parallel)", name)
		}
	}
	return cfg, nil
}

// validBucketName follows S3's rules for new buckets, loosely: 3 to 63
// lower-case letters, digits, dots and hyphens.
func validBucketName(b string) bool {
	if len(b) < 3 || len(b) > 63 {
		return false
	}
	for i := 0; i < len(b); i++ {
		if c := b[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// parseSize reads a byte count: "8388608", "8MiB", "1GiB" (also KiB, and
// K, M, G with the same binary meaning).
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if len(s) > len(u.suffix) && strings.EqualFold(s[len(s)-len(u.suffix):], u.suffix) {
			s, mult = s[:len(s)-len(u.suffix)], u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return n * mult, nil
}

// RedactURL hides the password (for s3: the secret key) of a URL, even one
// that does not parse, so that it can be logged or put in an error.
// Everything between the first ':' after "scheme://" and the last '@' is
// replaced by "***".
func RedactURL(s string) string {
	scheme := strings.Index(s, "://")
	at := strings.LastIndexByte(s, '@')
	if scheme < 0 || at < scheme+3 {
		return s
	}
	userinfo := s[scheme+3 : at]
	if i := strings.IndexByte(userinfo, ':'); i >= 0 {
		return s[:scheme+3] + userinfo[:i] + ":" + redacted + s[at:]
	}
	return s
}
