package app

import (
	"net/http/httptest"
	"testing"

	"jnedu/internal/config"
	"jnedu/internal/platform/web"
)

// TestMetricsAllowed: /metrics answers the loopback and the private
// networks by default, by the client's address after the trusted proxies,
// so a public client behind the local reverse proxy is refused.
func TestMetricsAllowed(t *testing.T) {
	a := &App{clientIP: web.ClientIP{Trusted: web.ParseTrusted([]string{"127.0.0.1/32"})},
		metricsAllow: web.ParseTrusted(config.Default().MetricsAllow)}
	for _, c := range []struct {
		remote, xff string
		want        bool
	}{
		{"127.0.0.1:40000", "", true},
		{"[::1]:40000", "", true},
		{"10.20.30.40:40000", "", true},
		{"192.168.1.9:40000", "", true},
		{"203.0.113.7:40000", "", false},
		{"127.0.0.1:40000", "203.0.113.7", false}, // a public client through the local proxy
		{"127.0.0.1:40000", "10.1.1.1", true},     // Prometheus on the LAN through the proxy
		{"203.0.113.7:40000", "10.1.1.1", false},  // a header from an untrusted peer is not believed
		{"[::ffff:203.0.113.7]:40000", "", false},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.RemoteAddr = c.remote
		if c.xff != "" {
			r.Header.Set("X-Forwarded-For", c.xff)
		}
		if got := a.metricsAllowed(r); got != c.want {
			t.Errorf("from %s (X-Forwarded-For %q): allowed %v, want %v", c.remote, c.xff, got, c.want)
		}
	}
}
