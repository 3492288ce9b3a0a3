package proxy

import (
	"bufio"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/trace"

	"github.com/docker-examples/stack/platform/forwarded"
	"github.com/docker-examples/stack/platform/telemetry"
)

// hopByHop reports whether the canonical header key k belongs to one
// connection only and must not be forwarded (RFC 9110, 7.6.1), or is
// one the proxy writes itself.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// ownRequestHeader reports whether the proxy writes header k itself on
// the way to the backend, replacing what the client sent.
func ownRequestHeader(k string) bool {
	switch k {
	case "Host", "Content-Length", "Expect", "X-Forwarded-For", "X-Forwarded-Proto",
		"X-Forwarded-Host", "X-Real-Ip", "Forwarded", "X-Request-Id", "X-Correlation-Id":
		return true
	}
	return false
}

// connectionListed reports whether k is named in a Connection header,
// which makes it hop-by-hop too.
func connectionListed(h http.Header, k string) bool {
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), k) {
				return true
			}
		}
	}
	return false
}

// Forwarded is what the lb tells a backend about the client.
type Forwarded struct {
	Peer    netip.Addr // the address that connected to the lb
	Trusted bool       // Peer is a trusted proxy: its X-Forwarded-* values are kept
	Client  netip.Addr // the client: Peer, or from X-Forwarded-For when Trusted
	Proto   string     // "http" or "https" as the lb saw it
}

// forwardedFor describes r as seen by the lb: its peer, and behind a
// trusted proxy the client the stack's one X-Forwarded-For rule
// (platform/forwarded) finds.
func forwardedFor(r *http.Request, proxies *forwarded.Resolver) Forwarded {
	f := Forwarded{Peer: forwarded.Peer(r.RemoteAddr), Proto: "http"}
	if r.TLS != nil {
		f.Proto = "https"
	}
	f.Client, f.Trusted = proxies.Resolve(f.Peer, r.Header["X-Forwarded-For"])
	return f
}

// writeRequestHead writes the request line and headers of r to bw, as the
// backend must see them: hop-by-hop headers removed, the proxy's own
// X-Forwarded-*, X-Real-IP and request id headers set, the body framing
// given by bodyLen (-1: chunked, 0: none). upgrade keeps the Upgrade
// handshake headers. When r's context holds a span (the lb's server span,
// telemetry.ContextProxyHandler), its traceparent replaces the client's
// Traceparent and Tracestate: the backend continues the lb's span.
func writeRequestHead(bw *bufio.Writer, r *http.Request, target string, f *Forwarded, requestID string, bodyLen int64, upgrade bool) {
	bw.WriteString(r.Method)
	bw.WriteByte(' ')
	bw.WriteString(target)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(r.Host)
	bw.WriteString("\r\n")
	hasConnection := len(r.Header["Connection"]) > 0
	sc := trace.SpanContextFromContext(r.Context())
	traced := sc.IsValid()
	for k, vv := range r.Header {
		if hopByHop(k) || ownRequestHeader(k) || traced && (k == "Traceparent" || k == "Tracestate") ||
			hasConnection && connectionListed(r.Header, k) {
			continue
		}
		for _, v := range vv {
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	// Values are formatted in bw's free buffer (AvailableBuffer), not in a
	// local array, which would escape to the heap through bw.Write.
	bw.WriteString("X-Forwarded-For: ")
	if f.Trusted {
		for _, v := range r.Header["X-Forwarded-For"] {
			bw.WriteString(v)
			bw.WriteString(", ")
		}
	}
	bw.Write(f.Peer.AppendTo(bw.AvailableBuffer()))
	bw.WriteString("\r\nX-Forwarded-Proto: ")
	bw.WriteString(keptOr(f.Trusted, r.Header, "X-Forwarded-Proto", f.Proto))
	bw.WriteString("\r\nX-Forwarded-Host: ")
	bw.WriteString(keptOr(f.Trusted, r.Header, "X-Forwarded-Host", r.Host))
	if f.Trusted {
		for _, v := range r.Header["Forwarded"] {
			bw.WriteString("\r\nForwarded: ")
			bw.WriteString(v)
		}
	}
	bw.WriteString("\r\nX-Real-IP: ")
	bw.Write(f.Client.AppendTo(bw.AvailableBuffer()))
	bw.WriteString("\r\nX-Request-ID: ")
	bw.WriteString(requestID)
	bw.WriteString("\r\nX-Correlation-ID: ")
	bw.WriteString(requestID)
	bw.WriteString("\r\n")
	if traced {
		bw.WriteString("Traceparent: ")
		bw.Write(telemetry.AppendTraceparent(bw.AvailableBuffer(), sc))
		bw.WriteString("\r\n")
		if ts := sc.TraceState(); ts.Len() > 0 {
			bw.WriteString("Tracestate: ")
			bw.WriteString(ts.String())
			bw.WriteString("\r\n")
		}
	}
	switch {
	case bodyLen > 0:
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), bodyLen, 10))
		bw.WriteString("\r\n")
	case bodyLen < 0:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case r.Method == http.MethodPost || r.Method == http.MethodPut || r.Method == http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n")
	}
	if upgrade {
		bw.WriteString("Connection: Upgrade\r\n")
		for _, v := range r.Header["Upgrade"] {
			bw.WriteString("Upgrade: ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	bw.WriteString("\r\n")
}

func keptOr(trusted bool, h http.Header, k, def string) string {
	if trusted {
		if v := h[k]; len(v) > 0 && v[0] != "" {
			return v[0]
		}
	}
	return def
}

// isUpgrade reports whether r asks to switch protocols (WebSocket).
func isUpgrade(r *http.Request) bool {
	if len(r.Header["Upgrade"]) == 0 || r.ProtoMajor != 1 {
		return false
	}
	for _, v := range r.Header["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), "upgrade") {
				return true
			}
		}
	}
	return false
}
