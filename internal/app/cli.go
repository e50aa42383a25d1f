package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"jnedu/internal/config"
	"jnedu/internal/demo"
	"jnedu/internal/exam"
	"jnedu/internal/exam/marking"
	"jnedu/internal/identity"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/web"
	"jnedu/internal/roster"
)

const usage = `jnedu: 济南教育信息化平台 / Jinan education informatization platform

Usage: jnedu <command> [flags]

Commands:
  serve     run the web pages, JSON API and background workers
  migrate   apply pending database migrations (serve does this too)
  demo      load the demo data (organisations, users) if missing
  user      manage users: user create | user passwd | user list
  share     campus videos: share import -owner USER FILE... | share stats
  roster    student-status data: roster import [-dry-run] [-format auto|csv|oneroster] FILE
  exam      exams: exam import-answers -user USER DIR (an answer package from a removable disk) |
            exam simulate -site URL -proctor USER (play candidates against a site node; JSON report)
  site      exam site node (考点): site --center URL --site CODE --token T | site load DIR |
            site key --session S | site export --session S --out DIR
  speech    speech scoring: speech score | speech eval DIR | speech fit DIR -o FILE
  worker    run background workers only: worker speech
  lrs       learning-record store: lrs client-create -org CODE -name NAME | lrs client-list | lrs client-revoke -id ID
            | lrs import -org CODE FILE.jsonl | lrs export [-org CODE] [-since T] [-until T]
  insight   indicators: insight recompute [-from DATE] [-to DATE] (rebuild the figures from the records)
  backup    write a consistent backup of the database and blobs (safe while serve runs)
  restore   restore a backup into the configured database and data folder (stop serve first)
  version   print the version
  help      print this help

Configuration (lowest to highest priority): defaults, a TOML file (--config or
JNEDU_CONFIG), environment (JNEDU_LISTEN, JNEDU_DATA_DIR, DATABASE_URL,
JNEDU_DEMO, JNEDU_LOG_LEVEL, ...), flags. Defaults: data folder ./data,
listen 127.0.0.1:8080, SQLite database in the data folder.
Run "jnedu <command> -h" for a command's flags.
`

// Main runs the command line; it returns the process exit code.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, rest, stdout, stderr, getenv)
	case "migrate":
		err = cmdMigrate(ctx, rest, stdout, stderr, getenv)
	case "demo":
		err = cmdDemo(ctx, rest, stdout, stderr, getenv)
	case "user":
		err = cmdUser(ctx, rest, stdout, stderr, getenv)
	case "share":
		err = cmdShare(ctx, rest, stdout, stderr, getenv)
	case "roster":
		err = cmdRoster(ctx, rest, stdout, stderr, getenv)
	case "exam":
		err = cmdExam(ctx, rest, stdout, stderr, getenv)
	case "site":
		err = cmdSite(ctx, rest, stdout, stderr, getenv)
	case "speech":
		err = cmdSpeech(ctx, rest, stdout, stderr, getenv)
	case "worker":
		err = cmdWorker(ctx, rest, stdout, stderr, getenv)
	case "lrs":
		err = cmdLRS(ctx, rest, stdout, stderr, getenv)
	case "insight":
		err = cmdInsight(ctx, rest, stdout, stderr, getenv)
	case "backup":
		err = cmdBackup(ctx, rest, stdout, stderr, getenv)
	case "restore":
		err = cmdRestore(ctx, rest, stdout, stderr, getenv)
	case "version", "-version", "--version":
		fmt.Fprintf(stdout, "jnedu %s (%s, %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "jnedu: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "jnedu %s: %s\n", cmd, describe(err, getenv))
		return 1
	}
	return 0
}

// describe turns an error into one readable line, in Chinese when the
// terminal's LANG is Chinese and in English otherwise.
func describe(err error, getenv func(string) string) string {
	e := apperr.As(err)
	if e == nil {
		return err.Error()
	}
	lang := web.LangEN
	if strings.HasPrefix(getenv("LANG"), "zh") {
		lang = web.LangZH
	}
	tr, terr := web.NewTranslator(web.Messages(), identity.Messages(), marking.Messages(), roster.Messages(), systemMessages())
	if terr != nil {
		return err.Error()
	}
	msg := strings.TrimSuffix(err.Error(), e.Error()) + tr.T(lang, e.Message, e.Args...)
	keys := make([]string, 0, len(e.Fields))
	for f := range e.Fields {
		keys = append(keys, f)
	}
	sort.Strings(keys)
	for _, f := range keys {
		msg += fmt.Sprintf(" [%s: %s]", f, tr.T(lang, e.Fields[f], e.Args...))
	}
	if e.Err != nil && e.Code == apperr.Internal {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func flags(name string, stderr io.Writer) (*flag.FlagSet, *config.Flags) {
	fs := flag.NewFlagSet("jnedu "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs, config.Register(fs)
}

func load(fs *flag.FlagSet, cf *config.Flags, args []string, getenv func(string) string) (config.Config, error) {
	if err := fs.Parse(args); err != nil {
		return config.Config{}, err
	}
	return cf.Load(getenv)
}

// loadApp parses the command's flags, loads the configuration and opens
// the app; the caller closes a.DB.
func loadApp(ctx context.Context, fs *flag.FlagSet, cf *config.Flags, args []string, getenv func(string) string, migrate bool) (*App, error) {
	cfg, err := load(fs, cf, args, getenv)
	if err != nil {
		return nil, err
	}
	return openApp(ctx, cfg, migrate)
}

// openApp loads config, opens the database and builds the app.
func openApp(ctx context.Context, cfg config.Config, migrate bool) (*App, error) {
	log := NewLogger(cfg)
	d, err := Open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a, err := New(ctx, cfg, log, d, Options{Migrate: migrate})
	if err != nil {
		d.Close()
		return nil, err
	}
	return a, nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, cf := flags("serve", stderr)
	a, err := loadApp(ctx, fs, cf, args, getenv, true)
	if err != nil {
		return err
	}
	defer a.DB.Close()
	cfg := a.Cfg
	if cfg.Demo {
		created, err := demo.Load(ctx, a.Identity)
		if err != nil {
			return fmt.Errorf("load demo data: %w", err)
		}
		if created {
			a.Log.Info("demo data loaded")
		}
		loadExamDemo(ctx, a)
	}
	// The dashboards' demo records are stored while serving (they reach
	// the indicators through the relay like any record).
	demoDone := make(chan struct{})
	go func() {
		defer close(demoDone)
		if cfg.Demo {
			loadInsightDemo(ctx, a)
		}
	}()
	defer func() { <-demoDone }()
	return a.Serve(ctx, func(addr string) {
		a.Log.Info("listening", "addr", addr, "database", a.DB.String(), "data", cfg.DataDir, "blobs", blob.RedactURL(cfg.BlobURL),
			"demo", cfg.Demo, "version", Version)
		fmt.Fprintf(stdout, "\njnedu %s 已启动 / is running: http://%s/\n", Version, addr)
		if cfg.Demo {
			printDemoAccounts(stdout)
		}
	})
}

func printDemoAccounts(w io.Writer) {
	fmt.Fprintf(w, "演示模式，所有数据均为演示数据 / demo mode, all data is demo data.\n")
	fmt.Fprintf(w, "演示账号（密码均为 %s）/ demo sign-ins (password %s):\n", demo.Password, demo.Password)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, acc := range demo.Accounts() {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", acc.Username, acc.Name, acc.Role)
	}
	tw.Flush()
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, cf := flags("migrate", stderr)
	status := fs.Bool("status", false, "only print how many migrations are pending")
	cfg, err := load(fs, cf, args, getenv)
	if err != nil {
		return err
	}
	d, err := Open(ctx, cfg)
	if err != nil {
		return err
	}
	defer d.Close()
	if *status {
		n, err := d.Status(ctx, Sources())
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s: %d pending migrations\n", d, n)
		return nil
	}
	done, err := d.Migrate(ctx, Sources())
	for _, m := range done {
		fmt.Fprintf(stdout, "applied %s %03d_%s\n", m.Subsystem, m.Version, m.Name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: up to date (%d applied now)\n", d, len(done))
	return nil
}

func cmdDemo(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, cf := flags("demo", stderr)
	a, err := loadApp(ctx, fs, cf, args, getenv, true)
	if err != nil {
		return err
	}
	defer a.DB.Close()
	created, err := demo.Load(ctx, a.Identity)
	if err != nil {
		return err
	}
	if created {
		fmt.Fprintf(stdout, "demo data loaded: %d schools, %d exam sites, %d smart classrooms, %d accounts\n",
			demo.Schools, demo.ExamSites, demo.Classrooms, len(demo.Accounts()))
	} else {
		fmt.Fprintln(stdout, "demo data already present; nothing changed")
	}
	printDemoAccounts(stdout)
	return nil
}

func cmdUser(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	const userUsage = "usage: jnedu user create|passwd|list [flags]"
	if len(args) == 0 {
		return errors.New(userUsage)
	}
	sub, args := args[0], args[1:]
	fs, cf := flags("user "+sub, stderr)
	var username, name, orgCode, roles, pwFile *string
	var limit *int
	switch sub {
	case "create":
		username = fs.String("username", "", "user name (required)")
		name = fs.String("name", "", "display name (required)")
		orgCode = fs.String("org", "", "organisation code (required)")
		roles = fs.String("roles", "", "comma-separated roles, e.g. platform_admin (required)")
		pwFile = fs.String("password-file", "", "read the password from this file ('-' = standard input); default: ask")
	case "passwd":
		username = fs.String("username", "", "user name (required)")
		pwFile = fs.String("password-file", "", "read the new password from this file ('-' = standard input); default: ask")
	case "list":
		orgCode = fs.String("org", "", "only users of this organisation's subtree")
		limit = fs.Int("limit", 100, "at most this many users")
	default:
		return errors.New(userUsage)
	}
	a, err := loadApp(ctx, fs, cf, args, getenv, false)
	if err != nil {
		return err
	}
	defer a.DB.Close()
	svc := a.Identity
	switch sub {
	case "create":
		if *username == "" || *name == "" || *orgCode == "" || *roles == "" {
			return errors.New("--username, --name, --org and --roles are required")
		}
		o, err := svc.OrgByCode(ctx, *orgCode)
		if err != nil {
			return fmt.Errorf("organisation %q: %w", *orgCode, err)
		}
		pw, err := readPassword(*pwFile, stderr)
		if err != nil {
			return err
		}
		var rs []identity.Role
		for _, r := range strings.Split(*roles, ",") {
			rs = append(rs, identity.Role(strings.TrimSpace(r)))
		}
		f := false
		u, err := svc.CreateUser(ctx, nil, identity.UserInput{OrgID: o.ID, Username: *username, DisplayName: *name, Password: pw, Roles: rs, MustChangePassword: &f})
		if err != nil {
			return err
		}
		svc.Record(ctx, nil, identity.AuditEntry{ActorName: "cli", Action: "cli user create", Target: fmt.Sprintf("user:%d", u.ID), Detail: u.Username, Result: identity.ResultOK}) //nolint:errcheck
		fmt.Fprintf(stdout, "created user %s (id %d) in %s\n", u.Username, u.ID, o.Name)
	case "passwd":
		if *username == "" {
			return errors.New("--username is required")
		}
		u, err := svc.UserByName(ctx, *username)
		if err != nil {
			return err
		}
		pw, err := readPassword(*pwFile, stderr)
		if err != nil {
			return err
		}
		if err := svc.ResetPassword(ctx, nil, u.ID, pw, false); err != nil {
			return err
		}
		svc.Record(ctx, nil, identity.AuditEntry{ActorName: "cli", Action: "cli user passwd", Target: fmt.Sprintf("user:%d", u.ID), Detail: u.Username, Result: identity.ResultOK}) //nolint:errcheck
		fmt.Fprintf(stdout, "password of %s changed; its sessions were ended\n", u.Username)
	case "list":
		f := identity.UserFilter{Limit: *limit}
		if *orgCode != "" {
			o, err := svc.OrgByCode(ctx, *orgCode)
			if err != nil {
				return err
			}
			f.Under = []identity.Org{o}
		}
		us, total, err := svc.Users(ctx, f)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tUSERNAME\tNAME\tROLES\tSTATE\tLAST LOGIN")
		for _, u := range us {
			var rs []string
			for _, g := range u.Grants {
				rs = append(rs, string(g.Role)+"@"+g.OrgName)
			}
			state := "active"
			if u.Disabled {
				state = "disabled"
			}
			last := "-"
			if u.LastLoginAt > 0 {
				last = time.UnixMilli(u.LastLoginAt).Format(time.DateTime)
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", u.ID, u.Username, u.DisplayName, strings.Join(rs, ","), state, last)
		}
		tw.Flush()
		fmt.Fprintf(stdout, "%d of %d users\n", len(us), total)
	}
	return nil
}

func readPassword(file string, stderr io.Writer) (string, error) {
	var r io.Reader
	switch file {
	case "-":
		r = os.Stdin
	case "":
		fmt.Fprint(stderr, "password: ")
		r = os.Stdin
	default:
		f, err := os.Open(file)
		if err != nil {
			return "", err
		}
		defer f.Close()
		r = f
	}
	line, err := bufio.NewReader(io.LimitReader(r, 1024)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", errors.New("empty password")
	}
	return pw, nil
}

// loadExamDemo adds the demonstration exam; a failure is logged, never
// fatal (the rest of the demo works without it).
func loadExamDemo(ctx context.Context, a *App) {
	res, err := a.Exam.LoadDemo(ctx)
	switch {
	case err != nil:
		a.Log.Warn("demo exam not loaded", "err", err)
	case !res.Speech:
		a.Log.Warn("espeak-ng is not installed: demo exam papers have no synthesized prompt audio (apt-get install espeak-ng)")
	}
	if err == nil && res.Created {
		a.Log.Info("demo exam loaded", "exam", exam.DemoExamCode)
	}
}
