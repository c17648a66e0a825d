package relay

import (
	"context"
	"crypto/rand"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	lprotocol "github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// Push wake-ups (this file owns them). A phone going to sleep registers a
// push endpoint — an opaque UnifiedPush/WebPush URL its push provider
// issued — for the mailboxes it reads here, proving control of each as
// for a subscription (protocol.PushProtocol). When a blob is put into one
// of those mailboxes and no live subscription watches it, the relay POSTs
// an empty body to the endpoint (with the WebPush "TTL" and "Urgency"
// headers): the provider wakes the app, which calls SyncOnce.
//
// What each side learns: the push provider sees that the relay (its IP)
// woke this endpoint at that time — never content, a mailbox ID, a blob ID
// or a size, since the body is empty and the URL is the provider's own.
// The relay learns the endpoint URL, and so that the mailboxes registered
// together belong to one device until the registration expires (at most
// Push.MaxTTL); a device that registers a fresh endpoint per registration
// (UnifiedPush allows one per instance) limits that to the mailboxes of
// one registration. Registrations live in memory only: never on disk,
// gone on restart (the phone registers again each time it goes to sleep).
// Only the relay ever sees the endpoint: it travels inside the encrypted
// libp2p channel authenticated by the relay's peer ID.
//
// SSRF: the relay POSTs only to hosts on the operator's allow-list
// (Push.AllowHosts; empty = push off), over https unless Push.AllowHTTP,
// follows no redirect, and dials only the host's resolved addresses
// through a dialer that refuses anything the allow-list did not name.
// Limits: Push.MaxRegistrations mailboxes in all, Push.MaxConcurrent
// POSTs in flight (more are dropped and counted), Push.Timeout per POST,
// one POST per endpoint per Push.MinInterval (more are dropped and
// counted): a sender cannot turn the relay into a flood at one endpoint.
//
// Anyone can make mailbox keys, so registrations are bounded per source
// address (MaxPerSource: an IPv4 address or IPv6 /64), globally
// (MaxRegistrations) and by expiry, besides the per-connection request
// rate. Caveat: a party with many addresses can still fill the table
// until entries expire; phones then still wake by their own background
// fetches.

// PushConfig configures push wake-ups. Zero fields take the defaults.
type PushConfig struct {
	// AllowHosts are the hosts ("host" or "host:port") the relay may POST
	// wake-ups to, e.g. the push providers the operator trusts. Default
	// none: push is off and registrations are refused.
	AllowHosts []string `toml:"allow_hosts"`
	// AllowHTTP permits plain http endpoints (tests, local distributors).
	// Default false: https only.
	AllowHTTP bool `toml:"allow_http"`
	// Timeout bounds one POST: default 10 s.
	Timeout Duration `toml:"timeout"`
	// MaxConcurrent caps POSTs in flight: default 16.
	MaxConcurrent int `toml:"max_concurrent"`
	// MinInterval is the least time between two POSTs to one endpoint:
	// default 10 s (one wake-up drains everything queued by then).
	MinInterval Duration `toml:"min_interval"`
	// MaxRegistrations caps registered mailboxes: default 100,000.
	MaxRegistrations int `toml:"max_registrations"`
	// MaxPerSource caps the mailboxes registered from one source address
	// (an IPv4 address or an IPv6 /64): default 8,192 (a few dozen phones
	// behind one NAT), so one party cannot fill MaxRegistrations alone.
	MaxPerSource int `toml:"max_per_source"`
	// DefaultTTL and MaxTTL bound a registration's life: defaults 48 h
	// and 7 days.
	DefaultTTL Duration `toml:"default_ttl"`
	MaxTTL     Duration `toml:"max_ttl"`
}

func (c PushConfig) withDefaults() PushConfig {
	if c.Timeout <= 0 {
		c.Timeout = Duration(10 * time.Second)
	}
	if c.MaxConcurrent <= 0 {
		c.MaxConcurrent = 16
	}
	if c.MinInterval <= 0 {
		c.MinInterval = Duration(10 * time.Second)
	}
	if c.MaxRegistrations <= 0 {
		c.MaxRegistrations = 100_000
	}
	if c.MaxPerSource <= 0 {
		c.MaxPerSource = 8192
	}
	if c.DefaultTTL <= 0 {
		c.DefaultTTL = Duration(48 * time.Hour)
	}
	if c.MaxTTL <= 0 {
		c.MaxTTL = Duration(7 * 24 * time.Hour)
	}
	return c
}

// Drop reasons of push wake-ups (imigee_relay_push_total{result}).
const (
	pushSent        = "sent"
	pushFailed      = "failed"       // transport error or non-2xx
	pushRateLimited = "rate_limited" // MinInterval not passed
	pushBusy        = "busy"         // MaxConcurrent in flight
)

type pushReg struct {
	endpoint string
	expires  time.Time
	source   string // sourceOf the registering connection
}

// pusher holds registrations and sends wake-ups.
type pusher struct {
	r      *Relay
	cfg    PushConfig
	allow  map[string]bool
	client *http.Client
	sem    chan struct{}
	wg     sync.WaitGroup // POSTs in flight
	total  *prometheus.CounterVec
	regs   prometheus.Gauge

	mu        sync.Mutex // guards byMb, perSource and last
	byMb      map[crypto.MailboxID]pushReg
	perSource map[string]int       // source → mailboxes in byMb
	last      map[string]time.Time // endpoint → last POST (real time)
}

func newPusher(r *Relay) *pusher {
	cfg := r.cfg.Push.withDefaults()
	p := &pusher{r: r, cfg: cfg, allow: map[string]bool{}, sem: make(chan struct{}, cfg.MaxConcurrent),
		byMb: map[crypto.MailboxID]pushReg{}, perSource: map[string]int{}, last: map[string]time.Time{}}
	for _, h := range cfg.AllowHosts {
		p.allow[strings.ToLower(h)] = true
	}
	dialer := &net.Dialer{Timeout: cfg.Timeout.D()}
	tr := &http.Transport{
		Proxy:             nil, // never through an environment proxy
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, netw, addr string) (net.Conn, error) {
			host, _, err := net.SplitHostPort(addr)
			if err != nil || !(p.allow[strings.ToLower(addr)] || p.allow[strings.ToLower(host)]) {
				return nil, &net.AddrError{Err: "push host not allowed", Addr: "redacted"}
			}
			return dialer.DialContext(ctx, netw, addr)
		},
		TLSHandshakeTimeout:   cfg.Timeout.D(),
		ResponseHeaderTimeout: cfg.Timeout.D(),
	}
	p.client = &http.Client{Transport: tr, Timeout: cfg.Timeout.D(),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	p.total = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "imigee", Subsystem: "relay",
		Name: "push_total", Help: "Push wake-ups, by result (sent, failed, rate_limited, busy)."}, []string{"result"})
	p.regs = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "imigee", Subsystem: "relay",
		Name: "push_registrations", Help: "Mailboxes with a push endpoint registered."})
	for _, res := range []string{pushSent, pushFailed, pushRateLimited, pushBusy} {
		p.total.WithLabelValues(res)
	}
	r.m.reg.MustRegister(p.total, p.regs)
	return p
}

// enabled: the operator allowed at least one host.
func (p *pusher) enabled() bool { return len(p.allow) > 0 }

// allowed checks an endpoint against the allow-list and scheme rule.
func (p *pusher) allowed(endpoint string) bool {
	u, err := protocol.ParsePushEndpoint(endpoint)
	if err != nil || (u.Scheme == "http" && !p.cfg.AllowHTTP) {
		return false
	}
	return p.allow[strings.ToLower(u.Host)] || p.allow[strings.ToLower(u.Hostname())]
}

// start registers the stream handler (Relay.Start).
func (p *pusher) start() {
	p.r.host.SetStreamHandler(lprotocol.ID(protocol.PushProtocol), p.r.handler("push", p.serve))
}

// close removes the handler and waits for POSTs in flight (Relay.Close).
func (p *pusher) close() {
	p.r.host.RemoveStreamHandler(lprotocol.ID(protocol.PushProtocol))
	p.wg.Wait()
}

// serve runs one registration exchange.
func (p *pusher) serve(s serviceStream, conn *connState) {
	r := p.r
	deadline := time.Now().Add(r.cfg.Limits.ReadTimeout.D())
	_ = s.SetReadDeadline(deadline)
	_ = s.SetWriteDeadline(deadline)
	// Admitted like the other one-shot streams: charged as a frame of the
	// largest exchange and its bytes reserved with the memory budget before
	// anything is read.
	release, err := r.admitOneShot(conn, protocol.MaxPushRegister+2*protocol.MaxPushSmall)
	if err != nil {
		r.m.error(protocol.Code(err))
		_ = protocol.WriteMsg(s, &pb.PushResult{Error: protocol.ToPB(err)})
		return
	}
	defer release()
	var nonce [protocol.ChallengeSize]byte
	_, _ = rand.Read(nonce[:])
	if err := protocol.WriteMsg(s, &pb.PushChallenge{Nonce: nonce[:]}); err != nil {
		return
	}
	var req pb.PushRegister
	if err := protocol.ReadPushRegister(s, &req); err != nil {
		r.m.error(protocol.Code(err))
		_ = protocol.WriteMsg(s, &pb.PushResult{Error: protocol.ToPB(err)})
		return
	}
	// Each auth is a signature to verify: charged as on a mailbox stream
	// before any is checked.
	if n := len(req.Auth); n >= mailboxPerUnit && !conn.allow(time.Now(), n/mailboxPerUnit) {
		r.m.drop(dropRateLimit)
		r.m.error(pb.ErrorCode_RATE_LIMITED)
		_ = protocol.WriteMsg(s, &pb.PushResult{Error: protocol.ToPB(&protocol.Error{Code: pb.ErrorCode_RATE_LIMITED, Detail: "request rate exceeded"})})
		return
	}
	source := "other"
	if ns, ok := s.(network.Stream); ok {
		source = sourceOf(ns.Conn())
	}
	_ = protocol.WriteMsg(s, p.register(nonce[:], &req, source))
}

// register checks the proofs and the endpoint and records it.
func (p *pusher) register(nonce []byte, req *pb.PushRegister, source string) *pb.PushResult {
	fail := func(code pb.ErrorCode, detail string) *pb.PushResult {
		p.r.m.error(code)
		return &pb.PushResult{Error: protocol.ToPB(&protocol.Error{Code: code, Detail: detail})}
	}
	if !p.enabled() {
		return fail(pb.ErrorCode_UNSUPPORTED, "push is off at this relay")
	}
	if req.Endpoint != "" && !p.allowed(req.Endpoint) {
		return fail(pb.ErrorCode_REJECTED, "push host not allowed here")
	}
	ids := make([]crypto.MailboxID, len(req.Auth))
	for i, a := range req.Auth {
		copy(ids[i][:], a.MailboxId)
		if err := crypto.VerifyMailboxAuth(crypto.OpSubscribe, nonce, ids[i], a.Pub, a.Sig); err != nil {
			return fail(pb.ErrorCode_UNAUTHORIZED, "mailbox proof does not verify")
		}
	}
	ttl := p.cfg.DefaultTTL.D()
	if req.TtlSeconds > 0 {
		ttl = min(time.Duration(req.TtlSeconds)*time.Second, p.cfg.MaxTTL.D())
	}
	exp := p.r.cfg.Now().Add(ttl)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sweepLocked()
	if req.Endpoint == "" {
		for _, id := range ids {
			p.dropLocked(id)
		}
		p.regs.Set(float64(len(p.byMb)))
		return &pb.PushResult{}
	}
	fresh, mine := 0, 0
	for _, id := range ids {
		reg, ok := p.byMb[id]
		if !ok {
			fresh++
		}
		if !ok || reg.source != source {
			mine++
		}
	}
	if len(p.byMb)+fresh > p.cfg.MaxRegistrations {
		return fail(pb.ErrorCode_QUOTA_EXCEEDED, "push registrations full")
	}
	if p.perSource[source]+mine > p.cfg.MaxPerSource {
		return fail(pb.ErrorCode_QUOTA_EXCEEDED, "push registrations from this address full")
	}
	for _, id := range ids {
		p.dropLocked(id)
		p.byMb[id] = pushReg{endpoint: req.Endpoint, expires: exp, source: source}
		p.perSource[source]++
	}
	p.regs.Set(float64(len(p.byMb)))
	return &pb.PushResult{Registered: uint32(len(ids)), ExpiresUnix: exp.Unix()}
}

// sweepLocked drops expired registrations and stale rate entries.
func (p *pusher) sweepLocked() {
	now := p.r.cfg.Now()
	for id, reg := range p.byMb {
		if !now.Before(reg.expires) {
			p.dropLocked(id)
		}
	}
	for ep, t := range p.last {
		if time.Since(t) > p.cfg.MinInterval.D() {
			delete(p.last, ep)
		}
	}
}

// dropLocked removes mailbox id's registration, if any, and its source's
// count. Callers hold p.mu.
func (p *pusher) dropLocked(id crypto.MailboxID) {
	reg, ok := p.byMb[id]
	if !ok {
		return
	}
	delete(p.byMb, id)
	if p.perSource[reg.source]--; p.perSource[reg.source] <= 0 {
		delete(p.perSource, reg.source)
	}
}

// onPut is the put path's hook: wake the mailbox's endpoint unless a live
// subscription already told the device. It never blocks.
func (p *pusher) onPut(mbox crypto.MailboxID) {
	if p == nil || !p.enabled() {
		return
	}
	p.r.hub.mu.RLock()
	live := len(p.r.hub.subs[mbox]) > 0
	p.r.hub.mu.RUnlock()
	if live {
		return
	}
	p.mu.Lock()
	reg, ok := p.byMb[mbox]
	if !ok || !p.r.cfg.Now().Before(reg.expires) {
		p.mu.Unlock()
		return
	}
	if t, ok := p.last[reg.endpoint]; ok && time.Since(t) < p.cfg.MinInterval.D() {
		p.mu.Unlock()
		p.total.WithLabelValues(pushRateLimited).Inc()
		return
	}
	select {
	case p.sem <- struct{}{}:
	default:
		p.mu.Unlock()
		p.total.WithLabelValues(pushBusy).Inc()
		return
	}
	p.last[reg.endpoint] = time.Now()
	p.wg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.wg.Done()
		defer func() { <-p.sem }()
		p.post(reg.endpoint)
	}()
}

// post sends one empty wake-up.
func (p *pusher) post(endpoint string) {
	ctx, cancel := context.WithTimeout(p.r.ctx, p.cfg.Timeout.D())
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, http.NoBody)
	if err != nil {
		p.total.WithLabelValues(pushFailed).Inc()
		return
	}
	// RFC 8030: how long the provider may hold it, and that it is urgent.
	req.Header.Set("TTL", "3600")
	req.Header.Set("Urgency", "high")
	resp, err := p.client.Do(req)
	if err != nil {
		p.total.WithLabelValues(pushFailed).Inc()
		p.r.cfg.Logger.Debug("push wake-up failed") // never the endpoint: it identifies a device
		return
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		p.total.WithLabelValues(pushFailed).Inc()
		return
	}
	p.total.WithLabelValues(pushSent).Inc()
}
