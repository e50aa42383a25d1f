package config

import (
	"strings"
	"testing"
)

// TestAddressLists: metrics_allow and trusted_proxies take addresses and
// CIDR ranges, from the file or the environment; anything else is an error
// naming the setting.
func TestAddressLists(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.MetricsAllow = []string{"10.0.0.0/8", "192.0.2.1", "内网"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `metrics_allow "内网"`) {
		t.Errorf("a bad metrics_allow entry: %v", err)
	}
	c = Default()
	c.TrustedProxies = []string{"localhost"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `trusted proxy "localhost"`) {
		t.Errorf("a bad trusted proxy: %v", err)
	}
	c = Default()
	env := map[string]string{"JNEDU_METRICS_ALLOW": "10.1.0.0/16, ::1"}
	if err := applyEnv(&c, func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if len(c.MetricsAllow) != 2 || strings.TrimSpace(c.MetricsAllow[1]) != "::1" {
		t.Errorf("metrics_allow from the environment: %q", c.MetricsAllow)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("valid list from the environment: %v", err)
	}
}
