package relay

// The relay side of the history of past announcements (issue 10): live
// announcements are kept in relay/history (history.db) before they are
// acknowledged; late announcements are matched against it and stored;
// HistoryForget erases by secret; all three travel by gossip. This file
// owns the wiring, the late budgets and the gossip writer; relay/history
// owns the file.

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
	"github.com/imigee/imigee/relay/history"
)

// HistoryFile is the name of the history database inside Config.DataDir.
const HistoryFile = "history.db"

// HistoryConfig configures the history of past announcements.
type HistoryConfig struct {
	// Window is how long announcements are kept after their epoch ends,
	// and how far back a late announcement may go. Default 72 h, at most
	// 720 h; 0 turns history off (late announcements and forgets get
	// UNSUPPORTED "history off", nothing is written). Code that builds a
	// Config from zero gets 0 (off); DefaultConfig and the daemon 72 h.
	Window Duration `toml:"window"`
	// MaxBytes caps the history's counted bytes (keys, values, bbolt
	// element headers). Above it late announcements get QUOTA_EXCEEDED and
	// live ones are matched live but not stored (counted in
	// imigee_history_not_stored_total{reason="full"}). Default 1 GiB.
	MaxBytes int64 `toml:"max_bytes"`
	// LateUnitsPerConn caps, per connection, the tokens of its late
	// announcements plus the secrets of its forgets. Default 16,384 (a
	// phone late-announces one hour of 100 friends, ≈ 2,400 tokens, per
	// one-off identity).
	LateUnitsPerConn int `toml:"late_units_per_conn"`
	// LateUnitsPerPrefixDay caps the same per remote address prefix
	// (IPv4 /24, IPv6 /48) per UTC day, since the late announcer uses a
	// fresh identity and connection per hour-group. Default 1,048,576
	// (≈ 400 phones' offline day of 100 friends).
	LateUnitsPerPrefixDay int `toml:"late_units_per_prefix_day"`
	// MaxPrefixes caps the prefixes the day budget tracks; beyond it a new
	// prefix is refused until the day turns. Default 65,536.
	MaxPrefixes int `toml:"max_prefixes"`
	// FairShareAbove and FairSharePerSourceDay: once the history holds
	// more than FairShareAbove of MaxBytes, a source (IPv4 address or IPv6
	// /64) that stored FairSharePerSourceDay tokens this UTC day stores no
	// more (live: matched but not kept, counted as
	// imigee_history_not_stored_total{reason="fair_share"}; late:
	// QUOTA_EXCEEDED), so a few flooding sources cannot take the last
	// quarter from everyone's late meetings. Defaults 0.75 and 262,144
	// tokens (≈ 14 MB; an always-announcing phone with 100 friends stores
	// ≈ 58,000 a day).
	FairShareAbove        float64 `toml:"fair_share_above"`
	FairSharePerSourceDay int     `toml:"fair_share_per_source_day"`
	// WriteQueue is the gossip writer's queue of history writes from other
	// relays; when full, writes are dropped and counted
	// (imigee_history_not_stored_total{reason="queue"}). Default 4096.
	WriteQueue int `toml:"write_queue"`
}

func (c *HistoryConfig) withDefaults(d HistoryConfig) error {
	def(&c.MaxBytes, d.MaxBytes)
	def(&c.LateUnitsPerConn, d.LateUnitsPerConn)
	def(&c.LateUnitsPerPrefixDay, d.LateUnitsPerPrefixDay)
	def(&c.MaxPrefixes, d.MaxPrefixes)
	def(&c.WriteQueue, d.WriteQueue)
	def(&c.FairShareAbove, d.FairShareAbove)
	def(&c.FairSharePerSourceDay, d.FairSharePerSourceDay)
	if c.FairShareAbove > 1 {
		return fmt.Errorf("relay: config: history fair_share_above %v above 1", c.FairShareAbove)
	}
	if c.Window < 0 || c.Window.D() > history.MaxWindow {
		return fmt.Errorf("relay: config: history window %v outside [0, %v]", c.Window.D(), history.MaxWindow)
	}
	return nil
}

func defaultHistoryConfig() HistoryConfig {
	return HistoryConfig{
		Window:                Duration(history.DefaultWindow),
		MaxBytes:              history.DefaultMaxBytes,
		LateUnitsPerConn:      16384,
		LateUnitsPerPrefixDay: 1 << 20,
		MaxPrefixes:           65536,
		WriteQueue:            4096,
		FairShareAbove:        0.75,
		FairSharePerSourceDay: 1 << 18,
	}
}

// Refusal reasons of imigee_history_refusals_total (a closed list).
const (
	histOff      = "off"
	histStale    = "stale"
	histBadEpoch = "bad_epoch"
	histBudget   = "budget"
	histFull     = "full"
	histError    = "error"
	histFair     = "fair_share"
)

// historyMetrics are the history's aggregate metrics.
type historyMetrics struct {
	lateAnnounces prometheus.Counter
	lateMatches   prometheus.Counter
	lateDropped   prometheus.Counter
	erased        prometheus.Counter
	refusals      *prometheus.CounterVec
	notStored     *prometheus.CounterVec
}

func newHistoryMetrics(reg *prometheus.Registry, st func() history.Stats) *historyMetrics {
	c := func(name, help string) prometheus.Counter {
		x := prometheus.NewCounter(prometheus.CounterOpts{Namespace: "imigee", Subsystem: "history", Name: name, Help: help})
		reg.MustRegister(x)
		return x
	}
	m := &historyMetrics{
		lateAnnounces: c("late_announces_total", "Late announcements accepted from local clients."),
		lateMatches:   c("late_matches_total", "Matches returned to late announcements."),
		lateDropped:   c("late_matches_dropped_total", "Matches left out beyond protocol.MaxMatchesPerResult."),
		erased:        c("forget_erased_total", "Announcements erased by HistoryForget (local and gossiped)."),
	}
	m.refusals = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "imigee", Subsystem: "history", Name: "refusals_total", Help: "Late announcements and forgets refused, by reason."}, []string{"reason"})
	m.notStored = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: "imigee", Subsystem: "history", Name: "not_stored_total", Help: "Live or gossiped announcements not kept in history, by reason."}, []string{"reason"})
	reg.MustRegister(m.refusals, m.notStored)
	for _, r := range []string{histOff, histStale, histBadEpoch, histBudget, histFull, histError, histFair} {
		m.refusals.WithLabelValues(r)
	}
	for _, r := range []string{histFull, "queue", histStale, histError, histOff, histFair} {
		m.notStored.WithLabelValues(r)
	}
	g := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "imigee", Subsystem: "history", Name: name, Help: help}, f))
	}
	g("bytes", "Counted bytes of the history (keys, values, element headers).", func() float64 { return float64(st().Bytes) })
	g("entries", "Token entries in the history.", func() float64 { return float64(st().Entries) })
	g("file_bytes", "Size of the history database file.", func() float64 { return float64(st().FileSize) })
	cf := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "imigee", Subsystem: "history", Name: name, Help: help}, f))
	}
	cf("commits_total", "Write transactions of the history (each one fsync).", func() float64 { return float64(st().Commits) })
	cf("writes_total", "Writes those transactions carried (writes/commits is the group commit's size).", func() float64 { return float64(st().Writes) })
	g("epoch_keys", "At-rest keys held: one per epoch in the window; expired epochs' keys are erased.", func() float64 { return float64(st().Keys) })
	return m
}

// openHistory opens history.db unless the window is 0 (off).
func (r *Relay) openHistory() error {
	if r.cfg.History.Window == 0 {
		r.hm = newHistoryMetrics(r.m.reg, func() history.Stats { return history.Stats{} })
		return nil
	}
	h, err := history.Open(history.Config{
		Path:      filepath.Join(r.cfg.DataDir, HistoryFile),
		Window:    r.cfg.History.Window.D(),
		MaxBytes:  r.cfg.History.MaxBytes,
		Now:       r.cfg.Now,
		NoSync:    r.cfg.NoSync,
		SyncDelay: r.cfg.SyncDelay,
		Logger:    r.cfg.Logger,
	})
	if err != nil {
		return fmt.Errorf("relay: %w", err)
	}
	r.hist = h
	r.hm = newHistoryMetrics(r.m.reg, h.Stats)
	r.hw = make(chan histOp, r.cfg.History.WriteQueue)
	r.lateDay = newDayCounter(r.cfg.History.LateUnitsPerPrefixDay, r.cfg.History.MaxPrefixes)
	r.histShare = newDayCounter(r.cfg.History.FairSharePerSourceDay, r.cfg.History.MaxPrefixes)
	return nil
}

func (r *Relay) closeHistory() error {
	if r.hist == nil {
		return nil
	}
	return r.hist.Close()
}

// sweepHistory drops whole epochs older than the window (sweep ticker).
func (r *Relay) sweepHistory() {
	if r.hist == nil {
		return
	}
	if _, err := r.hist.Expire(); err != nil {
		r.cfg.Logger.Warn("relay: history expiry", "err", err)
	}
}

// SweepHistory runs the history expiry now (tests with an injected clock).
func (r *Relay) SweepHistory() error {
	if r.hist == nil {
		return nil
	}
	_, err := r.hist.Expire()
	return err
}

// HistoryStats returns the history's counters (zero when off).
func (r *Relay) HistoryStats() history.Stats {
	if r.hist == nil {
		return history.Stats{}
	}
	return r.hist.Stats()
}

// histAnnounce converts a validated wire Announce for the history.
func histAnnounce(origin []byte, a *pb.Announce) *history.Announce {
	return histFrom(origin, a.EpochSeconds, a.Epoch, a.SharedRecord, a.ForgetTag, a.Announcements)
}

func histFrom(origin []byte, es uint32, epoch uint64, shared, tag []byte, as []*pb.Announcement) *history.Announce {
	h := &history.Announce{EpochSeconds: es, Epoch: epoch, Shared: shared, ForgetTag: tag, Announcements: make([]history.Announcement, len(as))}
	copy(h.Origin[:], origin)
	for i, a := range as {
		toks := make([]history.Token, len(a.Tokens))
		for j, t := range a.Tokens {
			copy(toks[j].Value[:], t.Value)
			toks[j].Here = t.Kind == pb.TokenKind_HERE
		}
		h.Announcements[i] = history.Announcement{Tokens: toks, Record: a.SealedRecord}
	}
	return h
}

func tokenCount(as []*pb.Announcement) int {
	n := 0
	for _, a := range as {
		n += len(a.Tokens)
	}
	return n
}

// storeLive keeps an accepted live announcement in history before it is
// acknowledged. Over MaxBytes it is matched live only (counted); a write
// error is UNAVAILABLE (the client retries; the engine ignores repeats).
func (rs *rvStream) storeLive(a *pb.Announce) error {
	r := rs.r
	if r.hist == nil {
		return nil
	}
	if rs.overFairShare() {
		r.hm.notStored.WithLabelValues(histFair).Inc()
		return nil
	}
	n, err := r.hist.Store(histAnnounce(rs.origin[:], a))
	switch {
	case err == nil:
		r.histShare.add(rs.conn.source, n, r.cfg.Now())
		return nil
	case errors.Is(err, history.ErrFull):
		r.hm.notStored.WithLabelValues(histFull).Inc()
		return nil
	}
	r.hm.notStored.WithLabelValues(histError).Inc()
	r.cfg.Logger.Warn("relay: history write", "err", err)
	return &protocol.Error{Code: pb.ErrorCode_UNAVAILABLE, Detail: "history write failed"}
}

func (rs *rvStream) refuse(reason string, code pb.ErrorCode, detail string) *pb.RendezvousResponse {
	rs.r.hm.refusals.WithLabelValues(reason).Inc()
	return rvErr(&protocol.Error{Code: code, Detail: detail})
}

// lateResultBytes bounds the matches of one late answer so it fits
// protocol.MaxRendezvousResponse (1024 matches with 512-byte records AND
// 512-byte shared records would not): 752 KiB; matchOverhead is a bound
// on one Match's encoding beyond its records.
const (
	lateResultBytes = protocol.MaxRendezvousResponse - 16<<10
	matchOverhead   = 48
)

// lateAnnounce matches a past epoch against the history and stores it.
// Order of checks: history on, epoch length, window, budgets (charged only
// then), byte cap.
func (rs *rvStream) lateAnnounce(a *pb.Announce) *pb.RendezvousResponse {
	r := rs.r
	if r.hist == nil {
		return rs.refuse(histOff, pb.ErrorCode_UNSUPPORTED, "history off")
	}
	if a.EpochSeconds != r.cfg.Rendezvous.EpochSeconds {
		return rs.refuse(histBadEpoch, pb.ErrorCode_BAD_REQUEST, "epoch length out of range")
	}
	if !r.hist.InWindow(a.EpochSeconds, a.Epoch) {
		return rs.refuse(histStale, pb.ErrorCode_STALE, "epoch outside the history window")
	}
	if rs.overFairShare() {
		return rs.refuse(histFair, pb.ErrorCode_QUOTA_EXCEEDED, "history nearly full: this source's share is spent")
	}
	if !rs.chargeLate(tokenCount(a.Announcements)) {
		return rs.refuse(histBudget, pb.ErrorCode_RATE_LIMITED, "late announcement budget exceeded")
	}
	ms, dropped, added, err := r.hist.Late(histAnnounce(rs.origin[:], a), protocol.MaxMatchesPerResult)
	switch {
	case errors.Is(err, history.ErrFull):
		return rs.refuse(histFull, pb.ErrorCode_QUOTA_EXCEEDED, "history full")
	case errors.Is(err, history.ErrStale):
		return rs.refuse(histStale, pb.ErrorCode_STALE, "epoch outside the history window")
	case err != nil:
		r.cfg.Logger.Warn("relay: history late announce", "err", err)
		return rs.refuse(histError, pb.ErrorCode_UNAVAILABLE, "history unavailable")
	}
	// The answer must fit one response frame: matches beyond
	// lateResultBytes are left out and counted like those beyond
	// MaxMatchesPerResult. Their bytes are reserved until the response is
	// queued (the frame writer then holds its own reservation).
	n := 0
	for i, m := range ms {
		sz := len(m.Record) + len(m.Shared) + matchOverhead
		if n+sz > lateResultBytes {
			dropped += len(ms) - i
			ms = ms[:i]
			break
		}
		n += sz
	}
	acct := memAccount{r.mem, rs.conn}
	if err := acct.Reserve(n); err != nil {
		return rvErr(errMemory)
	}
	defer acct.Release(n)
	r.histShare.add(rs.conn.source, added, r.cfg.Now())
	r.hm.lateAnnounces.Inc()
	r.hm.lateMatches.Add(float64(len(ms)))
	r.hm.lateDropped.Add(float64(dropped))
	res := &pb.AnnounceResult{Accepted: uint32(added)} // entries new to the history, as live
	for _, m := range ms {
		res.Matches = append(res.Matches, &pb.Match{Epoch: m.Epoch, Token: append([]byte(nil), m.Token[:]...), SealedRecord: m.Record, SharedRecord: m.Shared})
	}
	r.gossipLate(rs, a)
	return &pb.RendezvousResponse{Body: &pb.RendezvousResponse_Announce{Announce: res}}
}

// historyForget erases by secret here and, by gossip, at the network.
func (rs *rvStream) historyForget(f *pb.HistoryForget) *pb.RendezvousResponse {
	r := rs.r
	if r.hist == nil {
		return rs.refuse(histOff, pb.ErrorCode_UNSUPPORTED, "history off")
	}
	if !rs.chargeLate(len(f.Secrets)) {
		return rs.refuse(histBudget, pb.ErrorCode_RATE_LIMITED, "history forget budget exceeded")
	}
	n, err := r.hist.Forget(histSecrets(f.Secrets))
	if err != nil {
		r.cfg.Logger.Warn("relay: history forget", "err", err)
		return rs.refuse(histError, pb.ErrorCode_UNAVAILABLE, "history unavailable")
	}
	r.hm.erased.Add(float64(n))
	if r.gossip != nil {
		r.gossip.publish(&pb.RendezvousGossip{Origin: rs.origin[:], Forget: f.Secrets})
	}
	return &pb.RendezvousResponse{Body: &pb.RendezvousResponse_HistoryForget{HistoryForget: &pb.HistoryForgetResult{Erased: uint32(n)}}}
}

func histSecrets(ss []*pb.ForgetSecret) []history.Secret {
	out := make([]history.Secret, len(ss))
	for i, s := range ss {
		out[i] = history.Secret{Epoch: s.Epoch, Secret: s.Secret}
	}
	return out
}

// chargeLate spends n units of the connection's and its prefix's late
// budgets, all or nothing.
func (rs *rvStream) chargeLate(n int) bool {
	lim := rs.r.cfg.History.LateUnitsPerConn
	rs.conn.mu.Lock()
	defer rs.conn.mu.Unlock()
	if rs.conn.late+n > lim {
		return false
	}
	pfx := "?"
	if ns, ok := rs.s.(network.Stream); ok {
		pfx = addrPrefix(ns.Conn())
	}
	if !rs.r.lateDay.charge(pfx, n, rs.r.cfg.Now()) {
		return false
	}
	rs.conn.late += n
	return true
}

// overFairShare reports whether the history is nearly full and this
// connection's source has stored its day's share.
func (rs *rvStream) overFairShare() bool {
	h := rs.r.cfg.History
	if float64(rs.r.hist.Bytes()) <= h.FairShareAbove*float64(h.MaxBytes) {
		return false
	}
	return rs.r.histShare.spent(rs.conn.source, rs.r.cfg.Now()) >= h.FairSharePerSourceDay
}

// dayCounter counts units per key (an address prefix or source) per UTC
// day, for at most maxKeys keys.
type dayCounter struct {
	limit, maxKeys int

	mu   sync.Mutex // guards day and used
	day  int64
	used map[string]int
}

func newDayCounter(limit, maxKeys int) *dayCounter {
	return &dayCounter{limit: limit, maxKeys: maxKeys, used: make(map[string]int)}
}

func (b *dayCounter) turn(now time.Time) {
	if d := now.Unix() / 86400; d != b.day {
		b.day, b.used = d, make(map[string]int)
	}
}

// charge spends n units of k's limit, all or nothing; a new key beyond
// maxKeys is refused until the day turns.
func (b *dayCounter) charge(k string, n int, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.turn(now)
	u, known := b.used[k]
	if !known && len(b.used) >= b.maxKeys {
		return false
	}
	if u+n > b.limit {
		return false
	}
	b.used[k] = u + n
	return true
}

// add counts n units for k without a limit (a key beyond maxKeys is not
// tracked: it counts as nothing, so the map stays bounded).
func (b *dayCounter) add(k string, n int, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.turn(now)
	if _, known := b.used[k]; known || len(b.used) < b.maxKeys {
		b.used[k] += n
	}
}

func (b *dayCounter) spent(k string, now time.Time) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.turn(now)
	return b.used[k]
}

// gossipLate shares a late announcement: receivers store it, match nothing.
func (r *Relay) gossipLate(rs *rvStream, a *pb.Announce) {
	if r.gossip == nil {
		return
	}
	r.gossip.publish(&pb.RendezvousGossip{Origin: rs.origin[:], Epoch: a.Epoch, EpochSeconds: a.EpochSeconds, Announcements: a.Announcements, SharedRecord: a.SharedRecord, ForgetTag: a.ForgetTag, Late: true})
}

// histOp is the history writes of one gossip message (batch), with the
// reservation of the message (released once written or dropped).
type histOp struct {
	ops []history.Op
	msg *pubsub.Message
}

// enqueueHistory hands a gossip message's writes to the writer without
// blocking; a full queue drops them and counts each. It reports whether
// the writer took msg's reservation over.
func (g *gossip) enqueueHistory(ops []history.Op, msg *pubsub.Message) bool {
	r := g.r
	select {
	case r.hw <- histOp{ops: ops, msg: msg}:
		return true
	default:
		r.hm.notStored.WithLabelValues("queue").Add(float64(len(ops)))
		return false
	}
}

// gossipHistoryDelay is how long the gossip writer collects history
// writes after the first one before it commits them together: 1 s (or
// until historyBatch are queued). Gossip arrives spread over the epoch
// (phones re-announce as they change cells; a batch of gossip carries what
// one relay took in over gossipBatchDelay), so without the wait nearly
// every commit carried a few writes, and
// a bbolt commit's fixed part (rewriting the touched branch pages, the
// freelist and the meta page, and the fsync) cost as much as the write
// itself: 1,000 phones give each relay about 15 gossiped announcements a
// second. Nothing waits for these writes (they are acknowledged to
// nobody, and a full queue already drops them); a late announcement
// within the second could miss a live one gossiped in that same second,
// as it could miss one still in flight between relays.
const gossipHistoryDelay = time.Second

// historyBatch caps the writes of one gossip commit: 256.
const historyBatch = 256

// historyWriter applies gossiped history writes in batches (one commit
// per batch, at most gossipHistoryDelay after the batch's first write)
// until ctx ends; what it holds then is still written. Owned by the relay
// (r.wg).
func (r *Relay) historyWriter() {
	defer r.wg.Done()
	var ops []history.Op
	var msgs []*pubsub.Message
	for {
		var first histOp
		select {
		case <-r.ctx.Done():
			return
		case first = <-r.hw:
		}
		ops, msgs = append(ops[:0], first.ops...), append(msgs[:0], first.msg)
		wait := time.NewTimer(gossipHistoryDelay)
	more:
		for len(ops) < historyBatch {
			select {
			case h := <-r.hw:
				ops, msgs = append(ops, h.ops...), append(msgs, h.msg)
			case <-wait.C:
				break more
			case <-r.ctx.Done():
				break more
			}
		}
		wait.Stop()
		r.applyGossipHistory(ops, msgs)
		clear(msgs)
		clear(ops)
	}
}

// applyGossipHistory commits one batch of gossiped writes and releases
// their messages' reservations.
func (r *Relay) applyGossipHistory(ops []history.Op, msgs []*pubsub.Message) {
	res, err := r.hist.Apply(ops)
	if err != nil {
		r.hm.notStored.WithLabelValues(histError).Add(float64(len(ops)))
		r.cfg.Logger.Warn("relay: history gossip write", "err", err)
	} else {
		r.hm.erased.Add(float64(res.Erased))
		r.hm.notStored.WithLabelValues(histFull).Add(float64(res.Skipped))
	}
	for _, m := range msgs {
		if r.gossip != nil && m != nil {
			r.gossip.mem.done(m)
		}
	}
}
