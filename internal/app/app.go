// Package app is the composition root: configuration → database → stores →
// services → routes → workers. Nothing else wires subsystems together.
package app

import (
	"context"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"io/fs"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"jnedu/internal/config"
	"jnedu/internal/exam"
	"jnedu/internal/exam/marking"
	"jnedu/internal/identity"
	"jnedu/internal/insight"
	"jnedu/internal/lrs"
	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
	"jnedu/internal/platform/jobs"
	"jnedu/internal/platform/tabular"
	"jnedu/internal/platform/web"
	"jnedu/internal/roster"
	"jnedu/internal/share"
	"jnedu/internal/speech"
	"jnedu/internal/speech/sphinx"
)

// Version is set at build time with -ldflags "-X jnedu/internal/app.Version=...".
var Version = "dev"

// App is a running program's parts.
type App struct {
	Cfg      config.Config
	Log      *slog.Logger
	DB       *db.DB
	Blobs    blob.Store
	Bus      *events.Bus
	Jobs     *jobs.Queue
	RBAC     *identity.RBAC
	Identity *identity.Service
	Share    *share.Service
	Roster   *roster.Service
	Marking  *marking.Service
	Exam     *exam.Service
	Speech   *speech.Service
	LRS      *lrs.Service
	Insight  *insight.Service
	Routes   *web.Routes
	Handler  http.Handler
	Metrics  *web.Metrics
	started  time.Time

	clientIP     web.ClientIP   // the caller's address, believing the trusted proxies
	metricsAllow []netip.Prefix // who may read /metrics
}

// Sources lists every subsystem's migrations, in dependency order.
func Sources() []db.Source {
	return []db.Source{events.Migrations(), jobs.Migrations(), identity.Migrations(), share.Migrations(), exam.Migrations(), marking.Migrations(), roster.Migrations(), lrs.Migrations(), insight.Migrations()}
}

// Open connects to the database without touching its schema.
func Open(ctx context.Context, cfg config.Config) (*db.DB, error) {
	return db.Open(ctx, cfg.DatabaseURL, cfg.DataDir, db.Options{})
}

// Options change how New builds the app.
type Options struct {
	// Migrate applies pending migrations (serve does; tools may not).
	Migrate bool
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// New builds the app on an open database. It refuses a database whose
// schema is newer than this program, and one with pending migrations unless
// opt.Migrate is set.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, d *db.DB, opt Options) (*App, error) {
	pending, err := d.Status(ctx, Sources())
	if err != nil {
		return nil, err
	}
	if pending > 0 {
		if !opt.Migrate {
			return nil, fmt.Errorf("database has %d pending migrations: run `jnedu migrate`", pending)
		}
		done, err := d.Migrate(ctx, Sources())
		if err != nil {
			return nil, err
		}
		for _, m := range done {
			log.Info("migrated", "subsystem", m.Subsystem, "version", m.Version, "name", m.Name)
		}
	}
	blobs, err := blob.Open(ctx, cfg.BlobURL, cfg.BlobDir())
	if err != nil {
		return nil, fmt.Errorf("blob store: %w", err)
	}
	a := &App{Cfg: cfg, Log: log, DB: d, Blobs: blobs, started: time.Now()}
	// Subsystems subscribe to the bus here, before Serve starts it.
	a.Bus = events.NewBus(d, events.Options{Logger: log, Now: opt.Now})
	a.RBAC = identity.NewRBAC()
	share.DefinePermissions(a.RBAC)
	exam.DefinePermissions(a.RBAC)
	marking.DefinePermissions(a.RBAC)
	roster.DefinePermissions(a.RBAC)
	lrs.DefinePermissions(a.RBAC)
	insight.DefinePermissions(a.RBAC)
	a.Identity = identity.NewService(d, a.RBAC, identity.Settings{
		SessionTTL: cfg.SessionTTL.Duration, SessionMaxAge: cfg.SessionMaxAge.Duration,
		LoginMaxFailures: cfg.LoginMaxFailures, LoginLockout: cfg.LoginLockout.Duration,
		Demo: cfg.Demo, AuditRetentionDays: cfg.AuditRetentionDays,
	}, log, opt.Now)
	a.Identity.SetBus(a.Bus)

	a.Jobs = jobs.New(d, jobs.Options{Logger: log, Now: opt.Now})
	a.Share = share.NewService(d, blobs, a.Bus, nil, log, opt.Now)
	proc := share.NewProcessor(a.Share, a.Jobs, share.ProcessConfig{WorkDir: filepath.Join(cfg.DataDir, "work", "share"),
		KeepOriginal: cfg.VideoKeepOriginal, Concurrency: cfg.VideoWorkers, Preset: cfg.VideoPreset})

	// Speech scoring jobs run here too (one at a time, in a child process;
	// `jnedu worker speech` adds machines); the model loads with the first job.
	a.Speech = speech.NewService(d, blobs, a.Bus, a.Jobs, func() (speech.Backend, error) {
		return newSpeechBackend(1, log)
	}, log)
	a.Speech.HandleJobs(1)

	secret, err := loadSecret(filepath.Join(cfg.DataDir, "secret.key"))
	if err != nil {
		return nil, err
	}
	base := cfg.BaseURL
	if base == "" {
		base = "http://" + cfg.Listen
	}
	a.LRS = lrs.NewService(d, a.Bus, log, opt.Now, base, derive(secret, "lrs-cursor"), lrs.Limits{
		MaxBody: cfg.LRSMaxBodyMB << 20, MaxStatements: cfg.LRSMaxBatch, MaxAttachment: cfg.LRSMaxAttachmentMB << 20,
		MaxDocument: cfg.LRSMaxDocumentKB << 10, MaxQueryLimit: cfg.LRSPageSize})
	subscribeRecords(a)

	tr, err := web.NewTranslator(web.Messages(), identity.Messages(), share.Messages(), marking.Messages(), roster.Messages(), exam.Messages(), lrs.Messages(), insight.Messages(), systemMessages())
	if err != nil {
		return nil, err
	}
	ih := identity.NewHandlers(a.Identity, identity.HandlerConfig{
		MaxBody: cfg.MaxBodyBytes, Demo: cfg.Demo,
		ImportLimits: tabular.Limits{MaxBytes: cfg.MaxImportBytes, MaxRows: cfg.MaxImportRows},
		Tiles:        append(append(append(append(append(share.Tiles(), exam.Tiles()...), marking.Tiles()...), roster.Tiles()...), lrs.Tiles()...), insight.Tiles()...),
	})
	rd, err := web.NewRenderer(tr, log, ih.Chrome, web.TemplateSet{Prefix: "identity", FS: identity.TemplatesFS()},
		web.TemplateSet{Prefix: "share", FS: share.TemplatesFS()}, web.TemplateSet{Prefix: "exam", FS: exam.TemplatesFS()}, web.TemplateSet{Prefix: "marking", FS: marking.TemplatesFS()},
		web.TemplateSet{Prefix: "roster", FS: roster.TemplatesFS()}, web.TemplateSet{Prefix: "lrs", FS: lrs.TemplatesFS()},
		web.TemplateSet{Prefix: "insight", FS: insight.TemplatesFS()})
	if err != nil {
		return nil, err
	}
	ih.SetRenderer(rd)

	a.Metrics = web.NewMetrics()
	a.Metrics.Registry.MustRegister(newDBCollector(d), newBusCollector(a.Bus),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jnedu_lrs_write_groups_total",
			Help: "Transactions that wrote statement batches (SQLite groups the batches that wait for its writer)."},
			func() float64 { g, _ := a.LRS.GroupStats(); return float64(g) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "jnedu_lrs_write_batches_total",
			Help: "Statement batches written in those transactions."},
			func() float64 { _, b := a.LRS.GroupStats(); return float64(b) }))
	a.Routes = &web.Routes{}
	a.Routes.Add(ih.Routes()...)
	a.clientIP = web.ClientIP{Trusted: web.ParseTrusted(cfg.TrustedProxies)}
	a.metricsAllow = web.ParseTrusted(cfg.MetricsAllow)
	a.Routes.Add(a.systemRoutes()...)
	uploads, err := share.NewUploads(a.Share, share.UploadConfig{Dir: filepath.Join(cfg.DataDir, "uploads"),
		MaxSize: cfg.VideoMaxUploadGB << 30, UserQuota: cfg.VideoUserQuotaGB << 30, SchoolQuota: cfg.VideoOrgQuotaGB << 30}, rd.T)
	if err != nil {
		return nil, err
	}
	a.Routes.Add(uploads.Routes()...)
	sh := share.NewHandlers(a.Share, a.Identity, rd, share.NewSigner(secret, 6*time.Hour, opt.Now), cfg.MaxBodyBytes, cfg.BaseURL)
	sh.SetProcessor(proc)
	a.Routes.Add(sh.Routes()...)
	// Exam marking at the center. The exam catalogue is connected below,
	// with the exam center; the speech scorer (Marking.SetScorer) is
	// connected here when it is wired; until then marking is by humans only.
	a.Marking = marking.NewService(d, blobs, a.Bus, a.Identity, marking.Config{BaseURL: cfg.BaseURL}, log, opt.Now)
	// Machine scores only where the acoustic model is installed; without
	// it spoken answers go straight to human markers.
	if _, err := os.Stat(sphinx.DefaultModelDir); err == nil {
		a.Marking.SetScorer(speechScorer{a.Speech})
	} else {
		log.Warn("speech model not installed: spoken answers are marked by people only", "model", sphinx.DefaultModelDir)
	}
	recordMachineScores(a.Bus, a.Marking)
	a.Routes.Add(marking.NewHandlers(a.Marking, rd, a.Identity, cfg.MaxBodyBytes).Routes()...)
	// Exams (center side).
	if a.Exam, err = exam.NewService(d, blobs, a.Identity, exam.Config{Secret: secret, WorkDir: filepath.Join(cfg.DataDir, "work", "exam")}, log, opt.Now); err != nil {
		return nil, err
	}
	a.Routes.Add(exam.NewHandlers(a.Exam, rd, cfg.MaxBodyBytes, tabular.Limits{MaxBytes: cfg.MaxImportBytes, MaxRows: cfg.MaxImportRows}).Routes()...)
	a.Marking.SetCatalog(centerCatalog{a.Exam})
	prot, err := roster.NewProtector(secret)
	if err != nil {
		return nil, err
	}
	a.Roster = roster.NewService(d, a.Identity, a.Bus, prot, log, opt.Now)
	a.Routes.Add(roster.NewHandlers(a.Roster, rd, a.Identity, tabular.Limits{MaxBytes: cfg.MaxImportBytes, MaxRows: cfg.MaxImportRows}).Routes()...)
	a.Routes.Add(lrs.NewAPI(a.LRS).Routes()...)
	a.Routes.Add(lrs.NewHandlers(a.LRS, a.Identity, rd, cfg.MaxBodyBytes).Routes()...)
	// Indicators and dashboards over the records.
	a.Insight = insight.NewService(d, insightPeople{a.Roster, a.Identity}, insight.Config{MinGroup: cfg.InsightMinGroup, BaseURL: base}, log, opt.Now)
	subscribeInsight(a)
	subscribeInsightRoster(a)
	a.Routes.Add(insight.NewHandlers(a.Insight, a.Identity, rd).Routes()...)
	srv := &web.Server{
		Routes: a.Routes, Guard: identity.NewGuard(a.Identity, cfg.MaxBodyBytes, cfg.MaxImportBytes+1<<20),
		Renderer: rd, Log: log, Metrics: a.Metrics, ClientIP: a.clientIP,
		Audit: a.Identity.AuditRequest, LoginPath: "/login", PasswordPath: "/account/password",
		Static: map[string]fs.FS{"share": share.StaticFS(), "exam": exam.StaticFS(), "marking": marking.StaticFS(), "insight": insight.StaticFS()},
	}
	a.Handler = srv.Handler()
	return a, nil
}

// Serve runs the HTTP server and the background workers until ctx ends,
// then shuts down gracefully. ready, if not nil, receives the address once
// listening.
func (a *App) Serve(ctx context.Context, ready func(addr string)) error {
	hs := &http.Server{
		Addr:              a.Cfg.Listen,
		Handler:           a.Handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	ln, err := listen(a.Cfg.Listen)
	if err != nil {
		return err
	}
	wctx, stopWorkers := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWorkers()
	go a.housekeeping(wctx)
	busDone := make(chan error, 1)
	go func() { busDone <- a.Bus.Run(wctx) }()
	jobsDone := make(chan error, 1)
	go func() { jobsDone <- a.Jobs.Run(wctx) }()

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		stopWorkers()
		return fmt.Errorf("shutdown: %w", err)
	}
	// Requests are done; now the workers (the bus delivers what those
	// requests published before it stops).
	stopWorkers()
	if err := <-busDone; err != nil && !errors.Is(err, context.Canceled) {
		a.Log.Warn("event bus stopped", "err", err)
	}
	if err := <-jobsDone; err != nil && !errors.Is(err, context.Canceled) {
		a.Log.Warn("job queue stopped", "err", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// housekeeping prunes expired sessions and old audit records hourly, and
// makes the learning-record store's partitions ahead.
func (a *App) housekeeping(ctx context.Context) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := a.Identity.PruneSessions(ctx); err != nil && ctx.Err() == nil {
			a.Log.Warn("prune sessions", "err", err)
		} else if n > 0 {
			a.Log.Info("pruned sessions", "count", n)
		}
		// Learning records: next months' partitions (PostgreSQL), and the
		// registrations of writes whose process stopped mid-write.
		if n, err := a.LRS.EnsurePartitions(ctx); err != nil && ctx.Err() == nil {
			a.Log.Warn("lrs partitions", "err", err)
		} else if n > 0 {
			a.Log.Info("lrs partitions made", "tables", n)
		}
		if _, err := a.LRS.PruneInflight(ctx); err != nil && ctx.Err() == nil {
			a.Log.Warn("lrs prune write registrations", "err", err)
		}
		if n, err := a.Identity.PruneAudit(ctx); err != nil && ctx.Err() == nil {
			a.Log.Warn("prune audit", "err", err)
		} else if n > 0 {
			a.Log.Info("pruned audit records", "count", n, "older_than_days", a.Cfg.AuditRetentionDays)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// NewLogger makes the program's logger.
func NewLogger(cfg config.Config) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(cfg.LogLevel)) //nolint:errcheck // validated by config
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
