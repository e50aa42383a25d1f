package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

type reqIDKey struct{}

// RequestID returns the request's ID (also sent as X-Request-ID).
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(reqIDKey{}).(string)
	return id
}

func newRequestID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// ClientIP finds the caller's address, believing X-Forwarded-For only when
// the direct peer is a trusted proxy.
type ClientIP struct{ Trusted []netip.Prefix }

// ParseTrusted turns CIDRs or addresses into prefixes.
func ParseTrusted(list []string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range list {
		s = strings.TrimSpace(s)
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p)
		} else if a, err := netip.ParseAddr(s); err == nil {
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

func (c ClientIP) trusted(a netip.Addr) bool { return InPrefixes(c.Trusted, a) }

// InPrefixes reports whether a (an IPv4-mapped IPv6 address taken as IPv4)
// is in one of list.
func InPrefixes(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}

// Of returns the client address of r and whether the request came over TLS
// (directly or through a trusted proxy).
func (c ClientIP) Of(r *http.Request) (ip string, tls bool) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	tls = r.TLS != nil
	peer, err := netip.ParseAddr(host)
	if err != nil || !c.trusted(peer) {
		return host, tls
	}
	if p := r.Header.Get("X-Forwarded-Proto"); p != "" {
		tls = strings.EqualFold(p, "https")
	}
	// Walk X-Forwarded-For from the right, skipping trusted proxies.
	parts := strings.Split(r.Header.Get("X-Forwarded-For"), ",")
	for i := len(parts) - 1; i >= 0; i-- {
		s := strings.TrimSpace(parts[i])
		a, err := netip.ParseAddr(s)
		if err != nil {
			break
		}
		if !c.trusted(a) {
			return a.String(), tls
		}
		host = a.String()
	}
	return host, tls
}

type clientKey struct{}

type clientInfo struct {
	ip  string
	tls bool
}

// RemoteIP is the caller's address as resolved by the middleware.
func RemoteIP(ctx context.Context) string {
	ci, _ := ctx.Value(clientKey{}).(clientInfo)
	return ci.ip
}

// IsTLS reports whether the caller reached us over HTTPS.
func IsTLS(ctx context.Context) bool {
	ci, _ := ctx.Value(clientKey{}).(clientInfo)
	return ci.tls
}
