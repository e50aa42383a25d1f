package app

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"jnedu/internal/platform/apperr"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"jnedu/internal/platform/db"
	"jnedu/internal/platform/events"
	"jnedu/internal/platform/web"
)

func listen(addr string) (net.Listener, error) { return net.Listen("tcp", addr) }

func systemMessages() web.Catalog {
	return web.Catalog{
		"sys.not_ready": {"服务尚未就绪：%s", "Not ready: %s"},
	}
}

type health struct {
	Status     string `json:"status"`
	Version    string `json:"version"`
	Database   string `json:"database,omitempty"`
	Pending    int    `json:"pending_migrations"`
	UptimeSecs int64  `json:"uptime_s"`
}

func (a *App) systemRoutes() []web.Route {
	return []web.Route{
		{Method: "GET", Path: "/healthz", Perm: web.Public, Tag: "system", Summary: "Liveness: the process answers", Response: health{},
			Handler: func(w http.ResponseWriter, r *http.Request) error {
				return web.JSON(w, http.StatusOK, health{Status: "ok", Version: Version, UptimeSecs: int64(time.Since(a.started).Seconds())})
			}},
		{Method: "GET", Path: "/readyz", Perm: web.Public, Tag: "system", Summary: "Readiness: database reachable and migrations current", Response: health{},
			Handler: a.ready},
		{Method: "GET", Path: "/metrics", Perm: web.Public, Tag: "system", Summary: "Prometheus metrics (text format)",
			Handler: func(w http.ResponseWriter, r *http.Request) error {
				if !a.metricsAllowed(r) {
					return apperr.New(apperr.Forbidden, "err.metrics_forbidden")
				}
				a.Metrics.Handler().ServeHTTP(w, r)
				return nil
			}},
		{Method: "GET", Path: "/api/v1/openapi.json", Perm: web.Public, Tag: "system", Summary: "This API's OpenAPI 3 description",
			Handler: func(w http.ResponseWriter, r *http.Request) error {
				return web.JSON(w, http.StatusOK, OpenAPI(a.Routes, Version))
			}},
	}
}

// metricsAllowed reports whether the caller's address (after the trusted
// proxies) is in metrics_allow.
func (a *App) metricsAllowed(r *http.Request) bool {
	ip, _ := a.clientIP.Of(r)
	addr, err := netip.ParseAddr(ip)
	return err == nil && web.InPrefixes(a.metricsAllow, addr)
}

func (a *App) ready(w http.ResponseWriter, r *http.Request) error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	h := health{Status: "ok", Version: Version, Database: string(a.DB.Dialect()), UptimeSecs: int64(time.Since(a.started).Seconds())}
	if err := a.DB.Ping(ctx); err != nil {
		a.Log.Warn("readyz: database", "err", err)
		h.Status = "database unreachable"
		return web.JSON(w, http.StatusServiceUnavailable, h)
	}
	pending, err := a.DB.Status(ctx, Sources())
	if err != nil {
		h.Status = err.Error()
		return web.JSON(w, http.StatusServiceUnavailable, h)
	}
	h.Pending = pending
	if pending > 0 {
		h.Status = "migrations pending"
		return web.JSON(w, http.StatusServiceUnavailable, h)
	}
	return web.JSON(w, http.StatusOK, h)
}

// dbCollector exports the database pool statistics.
type dbCollector struct {
	d                                    *db.DB
	open, inUse, idle, waitCount, waitMS *prometheus.Desc
}

func newDBCollector(d *db.DB) *dbCollector {
	l := []string{"pool"}
	return &dbCollector{d: d,
		open:      prometheus.NewDesc("jnedu_db_open_connections", "Open database connections.", l, nil),
		inUse:     prometheus.NewDesc("jnedu_db_in_use_connections", "Database connections in use.", l, nil),
		idle:      prometheus.NewDesc("jnedu_db_idle_connections", "Idle database connections.", l, nil),
		waitCount: prometheus.NewDesc("jnedu_db_wait_total", "Times a caller waited for a database connection.", l, nil),
		waitMS:    prometheus.NewDesc("jnedu_db_wait_seconds_total", "Time spent waiting for database connections.", l, nil),
	}
}

func (c *dbCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.open, c.inUse, c.idle, c.waitCount, c.waitMS} {
		ch <- d
	}
}

func (c *dbCollector) Collect(ch chan<- prometheus.Metric) {
	w, r := c.d.Stats()
	for _, p := range []struct {
		name string
		s    sql.DBStats
	}{{"writer", w}, {"reader", r}} {
		ch <- prometheus.MustNewConstMetric(c.open, prometheus.GaugeValue, float64(p.s.OpenConnections), p.name)
		ch <- prometheus.MustNewConstMetric(c.inUse, prometheus.GaugeValue, float64(p.s.InUse), p.name)
		ch <- prometheus.MustNewConstMetric(c.idle, prometheus.GaugeValue, float64(p.s.Idle), p.name)
		ch <- prometheus.MustNewConstMetric(c.waitCount, prometheus.CounterValue, float64(p.s.WaitCount), p.name)
		ch <- prometheus.MustNewConstMetric(c.waitMS, prometheus.CounterValue, p.s.WaitDuration.Seconds(), p.name)
	}
}

// busCollector exports the event bus counters.
type busCollector struct {
	b                                                      *events.Bus
	published, delivered, failed, dropped, parked, backlog *prometheus.Desc
}

func newBusCollector(b *events.Bus) *busCollector {
	return &busCollector{b: b,
		published: prometheus.NewDesc("jnedu_events_published_total", "Events published (in-memory and through the outbox).", nil, nil),
		delivered: prometheus.NewDesc("jnedu_events_delivered_total", "Event deliveries to subscribers.", nil, nil),
		failed:    prometheus.NewDesc("jnedu_events_failed_total", "Failed event deliveries (retried).", nil, nil),
		dropped:   prometheus.NewDesc("jnedu_events_dropped_total", "In-memory events dropped at a full subscriber queue.", nil, nil),
		parked:    prometheus.NewDesc("jnedu_events_parked_total", "Events set aside after permanent failure.", nil, nil),
		backlog:   prometheus.NewDesc("jnedu_events_outbox_backlog", "Outbox events not yet delivered to every subscriber.", nil, nil),
	}
}

func (c *busCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.published, c.delivered, c.failed, c.dropped, c.parked, c.backlog} {
		ch <- d
	}
}

func (c *busCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.b.Stats()
	ch <- prometheus.MustNewConstMetric(c.published, prometheus.CounterValue, float64(s.Published+s.PublishedTx))
	ch <- prometheus.MustNewConstMetric(c.delivered, prometheus.CounterValue, float64(s.Delivered))
	ch <- prometheus.MustNewConstMetric(c.failed, prometheus.CounterValue, float64(s.Failed))
	ch <- prometheus.MustNewConstMetric(c.dropped, prometheus.CounterValue, float64(s.Dropped))
	ch <- prometheus.MustNewConstMetric(c.parked, prometheus.CounterValue, float64(s.Parked))
	ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(s.Backlog))
}

// loadSecret reads the server's signing secret, making it on first start.
// It signs media URLs; keep it with the data (backups include the folder's
// database, not this file: a restored server makes a new one, which only
// invalidates links handed out before).
func loadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil && len(b) >= 32 {
		return b, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("write secret: %w", err)
	}
	return b, nil
}

// derive makes a key for one purpose from the program's secret.
func derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}
