// Package analytics is a relay's role as an analytics collector (DESIGN.md
// P13): the leader takes phones' reports (/imigee/analytics/1), keeps them
// sealed in bbolt until their day is over, then checks them together with
// the helper (/imigee/analytics-agg/1: Prio3 prep shares, crypto/report.go)
// and adds the valid ones to a per-day sum; the reports are deleted once
// summed. A day is published — the two sums combined into totals — only
// when at least MinBatch reports were summed, and each collector enforces
// that minimum on its own. A collector's stored data is sealed shares and
// sums of shares: each alone is uniformly random. Open days are summed in
// full batches as reports arrive (RunDue), so the leader never holds a
// whole day of reports; the per-prefix report cap counts under a keyed
// hash (ratelimit.go), so no address stays in memory.
//
// Tests: TestCollectorsPublishTrueSums, TestCollectorRefusesLiesAndReplays,
// TestPendingIsACount, TestOpenDaySummedInFullBatches,
// TestHelperConcurrentPreparesAllSummed, TestConcurrentRunsPublishOnce,
// TestLatestKeptInMemory here; the memory
// scan for identifiers is node's TestAnalyticsCollectorStateHoldsNoIdentifiers
// (it needs phones); BenchmarkCollectorPerReport and
// BenchmarkCollectorStorage give the figures in docs/relay.md.
//
// # Concurrency
//
// Collector is safe for concurrent use: bbolt serialises writers; mu guards
// the rate counters. Aggregation runs (RunDue from the relay's background
// loop, RunNow from a testnet) take turns (runSlot), which also keeps the
// leader's use of the VDAF to one goroutine; stream handlers run on
// libp2p's goroutines and answer one request per stream.
package analytics

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/internal/boltopt"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// Roles.
const (
	Leader = "leader"
	Helper = "helper"
)

// Config configures a Collector. Zero values take the defaults given.
type Config struct {
	// Role is Leader or Helper.
	Role string
	// BoxPub and BoxPriv are this collector's X25519 key: phones seal its
	// share to BoxPub.
	BoxPub, BoxPriv *[32]byte
	// VerifyKey is the secret both collectors share to check proofs.
	VerifyKey [crypto.ReportVerifyKeySize]byte
	// MinBatch is the fewest reports a published day may sum. Default 100;
	// below 2 is refused.
	MinBatch int
	// ReportsPerPrefixDay caps reports per address prefix per day at the
	// leader. Default 64.
	ReportsPerPrefixDay int
	// MaxReportsPerDay caps the reports kept for one day. Default 5,000,000.
	MaxReportsPerDay int
	// Batch is how many reports the leader checks with the helper in one
	// exchange, and the batch an open day is summed in. Default and bound
	// protocol.MaxAggItems (256).
	Batch int
	// Grace is how long after a day ends reports for it are still taken
	// (phones report at a random time of the next day). Default 26 h.
	Grace time.Duration
	// Now is the clock. nil = time.Now.
	Now func() time.Time
	// NoSync skips fsync (tests).
	NoSync bool
}

func (c *Config) defaults() error {
	if c.MinBatch == 0 {
		c.MinBatch = 100
	}
	if c.ReportsPerPrefixDay == 0 {
		c.ReportsPerPrefixDay = 64
	}
	if c.MaxReportsPerDay == 0 {
		c.MaxReportsPerDay = 5_000_000
	}
	if c.Batch <= 0 || c.Batch > protocol.MaxAggItems {
		c.Batch = protocol.MaxAggItems
	}
	if c.Grace == 0 {
		c.Grace = 26 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	switch {
	case c.Role != Leader && c.Role != Helper:
		return fmt.Errorf("analytics: role %q (want leader or helper)", c.Role)
	case c.BoxPub == nil || c.BoxPriv == nil:
		return errors.New("analytics: no box key")
	case c.MinBatch < 2:
		return fmt.Errorf("analytics: min batch %d below 2", c.MinBatch)
	}
	return nil
}

// Result is one published day.
type Result struct {
	Day    uint32            `json:"day"`
	Date   string            `json:"date"`
	Count  uint64            `json:"reports"`
	Totals map[string]uint64 `json:"totals"`
}

// Stream is what the handlers need from a libp2p stream.
type Stream interface {
	io.ReadWriter
	SetDeadline(time.Time) error
}

// Call sends one AggRequest to the partner collector and returns its answer.
type Call func(ctx context.Context, req *pb.AggRequest) (*pb.AggResponse, error)

// Collector is one collector.
type Collector struct {
	cfg Config
	v   *crypto.ReportVDAF
	db  *bolt.DB

	// pending counts the reports bucket's keys (the leader's reports
	// waiting to be summed), so a metrics scrape reads a number instead of
	// walking the bucket; set at open, moved by each committed write.
	pending atomic.Int64
	// latest is the most recent published day (nil: none), loaded at open
	// and replaced by publish, so Latest reads no database.
	latest atomic.Pointer[Result]
	// running holds the one aggregation run (RunDue, RunNow) in progress.
	running chan struct{}

	mu     sync.Mutex // guards day, pfxKey and perPfx
	day    int64
	pfxKey [32]byte         // random per day: perPfx holds no address
	perPfx map[[16]byte]int // keyed hash of an address prefix → reports today
}

var (
	bReports   = []byte("reports")   // day(4) ‖ nonce → encoded AnalyticsReport (leader)
	bSeen      = []byte("seen")      // day(4) ‖ nonce → 1 (helper: each report summed once)
	bSums      = []byte("sums")      // day(4) → count(8) ‖ sum share
	bPublished = []byte("published") // day(4) → Result JSON
	bCounts    = []byte("counts")    // day(4) → reports taken (8), for MaxReportsPerDay
	bCollected = []byte("collected") // day(4) → 1 (helper: the day's sum was handed over; closed for good)
)

// New opens the collector's database at path.
func New(cfg Config, path string) (*Collector, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	v, err := crypto.NewReportVDAF(uint(len(protocol.AnalyticsFields)), protocol.AnalyticsBits)
	if err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, boltopt.Options(2*time.Second, cfg.NoSync))
	if err != nil {
		return nil, fmt.Errorf("analytics: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bReports, bSeen, bSums, bPublished, bCounts, bCollected} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("analytics: init: %w", err)
	}
	c := &Collector{cfg: cfg, v: v, db: db, running: make(chan struct{}, 1)}
	_ = db.View(func(tx *bolt.Tx) error { c.pending.Store(int64(tx.Bucket(bReports).Stats().KeyN)); return nil })
	c.latest.Store(c.loadLatest())
	return c, nil
}

// Close closes the database.
func (c *Collector) Close() error { return c.db.Close() }

func dayKey(day uint32) []byte { return binary.BigEndian.AppendUint32(nil, day) }

func today(now time.Time) uint32 { return uint32(now.Unix() / 86400) }

// ServeReport (leader) reads one report, stores it and acks. A report is
// taken for today or a past day still within Grace, once per nonce.
func (c *Collector) ServeReport(st Stream, prefix string) {
	_ = st.SetDeadline(time.Now().Add(30 * time.Second))
	var m pb.AnalyticsReport
	ack := func(code pb.ErrorCode, detail string) {
		a := &pb.AnalyticsAck{}
		if code != pb.ErrorCode_OK {
			a.Error = &pb.Error{Code: code, Detail: detail}
		}
		_ = protocol.WriteMsg(st, a)
	}
	if err := protocol.ReadAnalyticsReport(st, &m); err != nil {
		ack(protocol.Code(err), "bad report")
		return
	}
	if c.cfg.Role != Leader {
		ack(pb.ErrorCode_UNSUPPORTED, "not the leader collector")
		return
	}
	if crypto.ReportNonceDay(m.Nonce) != m.Day {
		ack(pb.ErrorCode_BAD_REQUEST, "nonce does not name the report's day")
		return
	}
	now := c.cfg.Now()
	dayEnd := time.Unix(int64(m.Day+1)*86400, 0)
	if m.Day > today(now) || now.After(dayEnd.Add(c.cfg.Grace)) {
		ack(pb.ErrorCode_STALE, "day not open for reports")
		return
	}
	if !c.allow(prefix) {
		ack(pb.ErrorCode_RATE_LIMITED, "reports per day exceeded")
		return
	}
	b, _ := proto.Marshal(&m)
	added := false
	err := c.db.Update(func(tx *bolt.Tx) error {
		added = false // a retried transaction starts over
		rb, cb := tx.Bucket(bReports), tx.Bucket(bCounts)
		k := append(dayKey(m.Day), m.Nonce...)
		if rb.Get(k) != nil {
			return nil // a repeat changes nothing
		}
		var n uint64
		if v := cb.Get(dayKey(m.Day)); len(v) == 8 {
			n = binary.BigEndian.Uint64(v)
		}
		if n >= uint64(c.cfg.MaxReportsPerDay) {
			return errFull
		}
		if err := cb.Put(dayKey(m.Day), binary.BigEndian.AppendUint64(nil, n+1)); err != nil {
			return err
		}
		added = true
		return rb.Put(k, b)
	})
	if err == nil && added {
		c.pending.Add(1)
	}
	switch {
	case errors.Is(err, errFull):
		ack(pb.ErrorCode_QUOTA_EXCEEDED, "day full")
	case err != nil:
		ack(pb.ErrorCode_INTERNAL, "store")
	default:
		ack(pb.ErrorCode_OK, "")
	}
}

var errFull = errors.New("analytics: day full")

// RunDue (leader) sums and publishes every day whose report window has
// closed: it checks the day's reports with the helper in batches, adds the
// valid ones to the day's sum, deletes them, and publishes the day when it
// has at least MinBatch reports. Days still open are summed too, in full
// batches (Config.Batch) only and never published, so the leader keeps
// fewer than a batch of reports per open day beyond what arrived since the
// last run, instead of a whole day's.
func (c *Collector) RunDue(ctx context.Context, call Call) error {
	if c.cfg.Role != Leader {
		return nil
	}
	release, err := c.runSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	now := c.cfg.Now()
	closed := func(d uint32) bool { return now.After(time.Unix(int64(d+1)*86400, 0).Add(c.cfg.Grace)) }
	for _, d := range c.reportDays(func(d uint32) bool { return !closed(d) }) {
		if err := c.sumDay(ctx, d, call, true); err != nil {
			return err
		}
	}
	return c.run(ctx, call, closed)
}

// RunNow (leader) is RunDue for every day holding reports, its window
// closed or not: for a testnet, whose day ends with the run. MinBatch
// holds as ever, at both collectors.
func (c *Collector) RunNow(ctx context.Context, call Call) error {
	if c.cfg.Role != Leader {
		return nil
	}
	release, err := c.runSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	return c.run(ctx, call, func(uint32) bool { return true })
}

// runSlot waits for the one aggregation run slot. Two runs at once would
// each load a day's sum, send the same reports to the helper (which sums
// each once and answers the repeat with nothing) and store their own sum:
// the later store would drop the earlier's reports, and the two
// collectors' counts would differ for good, so the day would never be
// published.
func (c *Collector) runSlot(ctx context.Context) (release func(), err error) {
	select {
	case c.running <- struct{}{}:
		return func() { <-c.running }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// run sums and publishes the days due selects; its callers (leader only)
// hold the run slot.
func (c *Collector) run(ctx context.Context, call Call, due func(day uint32) bool) error {
	for _, d := range c.reportDays(due) {
		if err := c.sumDay(ctx, d, call, false); err != nil {
			return err
		}
		if _, err := c.publish(ctx, d, call); err != nil && !errors.Is(err, ErrBelowMinimum) {
			return err
		}
	}
	return nil
}

// reportDays lists the days holding reports that pick selects.
func (c *Collector) reportDays(pick func(day uint32) bool) []uint32 {
	var days []uint32
	_ = c.db.View(func(tx *bolt.Tx) error {
		// One seek per day, not a walk over every report kept.
		cur := tx.Bucket(bReports).Cursor()
		for k, _ := cur.First(); len(k) >= 4; {
			d := binary.BigEndian.Uint32(k)
			if pick(d) {
				days = append(days, d)
			}
			if d == ^uint32(0) {
				break
			}
			k, _ = cur.Seek(dayKey(d + 1))
		}
		return nil
	})
	return days
}

// ErrBelowMinimum means a day summed fewer than MinBatch reports: it is
// never published.
var ErrBelowMinimum = errors.New("analytics: fewer reports than the minimum batch")

// sumDay checks and sums day's reports in batches of up to Config.Batch;
// fullOnly stops before a smaller batch (an open day: the rest waits for
// more reports or the window's end).
func (c *Collector) sumDay(ctx context.Context, day uint32, call Call, fullOnly bool) error {
	for {
		var batch []*pb.AnalyticsReport
		var keys [][]byte
		_ = c.db.View(func(tx *bolt.Tx) error {
			cur := tx.Bucket(bReports).Cursor()
			for k, v := cur.Seek(dayKey(day)); k != nil && bytes.HasPrefix(k, dayKey(day)) && len(keys) < c.cfg.Batch; k, v = cur.Next() {
				var m pb.AnalyticsReport
				if proto.Unmarshal(v, &m) == nil {
					batch = append(batch, &m)
				}
				keys = append(keys, bytes.Clone(k))
			}
			return nil
		})
		if len(keys) == 0 || (fullOnly && len(keys) < c.cfg.Batch) {
			return nil
		}
		agg, err := c.loadSum(day)
		if err != nil {
			return err
		}
		preps := make([]*crypto.ReportPrep, len(batch))
		items := make([]*pb.AggItem, 0, len(batch))
		idx := make([]int, 0, len(batch))
		for i, m := range batch {
			share, err := crypto.OpenReportShare(m.LeaderShare, c.cfg.BoxPub, c.cfg.BoxPriv)
			if err != nil {
				continue
			}
			p, err := c.v.PrepInit(&c.cfg.VerifyKey, [16]byte(m.Nonce), 0, m.PublicShare, share)
			if err != nil {
				continue
			}
			preps[i] = p
			items = append(items, &pb.AggItem{Nonce: m.Nonce, PublicShare: m.PublicShare, HelperShare: m.HelperShare, LeaderPrep: p.Share})
			idx = append(idx, i)
		}
		if len(items) > 0 {
			resp, err := call(ctx, &pb.AggRequest{Body: &pb.AggRequest_Prepare{Prepare: &pb.AggPrepare{Day: day, Items: items}}})
			if err != nil {
				return fmt.Errorf("analytics: prepare with the helper: %w", err)
			}
			if resp.Error != nil {
				return fmt.Errorf("analytics: helper: %w", protocol.FromPB(resp.Error))
			}
			if len(resp.PrepMessages) != len(items) {
				return fmt.Errorf("analytics: helper answered %d of %d items", len(resp.PrepMessages), len(items))
			}
			for j, msg := range resp.PrepMessages {
				if len(msg) == 0 {
					continue // rejected by the proof check
				}
				_ = agg.Finish(preps[idx[j]], msg)
			}
		}
		if err := c.db.Update(func(tx *bolt.Tx) error {
			if err := putSum(tx, day, agg); err != nil {
				return err
			}
			rb := tx.Bucket(bReports)
			for _, k := range keys {
				if err := rb.Delete(k); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			return fmt.Errorf("analytics: store sum: %w", err)
		}
		c.pending.Add(-int64(len(keys)))
	}
}

func (c *Collector) loadSum(day uint32) (*crypto.ReportAgg, error) {
	var out *crypto.ReportAgg
	err := c.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = c.sumIn(tx, day)
		return err
	})
	return out, err
}

// sumIn reads day's sum within tx (a fresh one if none).
func (c *Collector) sumIn(tx *bolt.Tx, day uint32) (*crypto.ReportAgg, error) {
	v := tx.Bucket(bSums).Get(dayKey(day))
	if v == nil {
		return c.v.NewAgg(), nil
	}
	return c.v.LoadAgg(v[8:], binary.BigEndian.Uint64(v))
}

func putSum(tx *bolt.Tx, day uint32, a *crypto.ReportAgg) error {
	b, err := a.Bytes()
	if err != nil {
		return err
	}
	return tx.Bucket(bSums).Put(dayKey(day), append(binary.BigEndian.AppendUint64(nil, a.Count), b...))
}

func (c *Collector) publish(ctx context.Context, day uint32, call Call) (*Result, error) {
	agg, err := c.loadSum(day)
	if err != nil {
		return nil, err
	}
	if agg.Count < uint64(c.cfg.MinBatch) {
		return nil, ErrBelowMinimum
	}
	resp, err := call(ctx, &pb.AggRequest{Body: &pb.AggRequest_Collect{Collect: &pb.AggCollect{Day: day, Count: agg.Count}}})
	if err != nil {
		return nil, fmt.Errorf("analytics: collect from the helper: %w", err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("analytics: helper: %w", protocol.FromPB(resp.Error))
	}
	other, err := c.v.LoadAgg(resp.AggShare, resp.Count)
	if err != nil {
		return nil, err
	}
	totals, err := c.v.Unshard(agg, other)
	if err != nil {
		return nil, err
	}
	res := &Result{Day: day, Date: time.Unix(int64(day)*86400, 0).UTC().Format("2006-01-02"), Count: agg.Count, Totals: map[string]uint64{}}
	for i, f := range protocol.AnalyticsFields {
		res.Totals[f] = totals[i]
	}
	b, _ := json.Marshal(res)
	err = c.db.Update(func(tx *bolt.Tx) error {
		if err := tx.Bucket(bPublished).Put(dayKey(day), b); err != nil {
			return err
		}
		return tx.Bucket(bSums).Delete(dayKey(day))
	})
	if err != nil {
		return nil, err
	}
	if l := c.latest.Load(); l == nil || l.Day <= day {
		c.latest.Store(res)
	}
	return res, nil
}

// ServeAgg (helper) answers one AggRequest from the leader.
func (c *Collector) ServeAgg(st Stream) {
	_ = st.SetDeadline(time.Now().Add(2 * time.Minute))
	var req pb.AggRequest
	if err := protocol.ReadAggRequest(st, &req); err != nil {
		_ = protocol.WriteMsg(st, &pb.AggResponse{Error: protocol.ToPB(err)})
		return
	}
	_ = protocol.WriteMsg(st, c.HandleAgg(&req))
}

// HandleAgg answers an AggRequest (helper).
func (c *Collector) HandleAgg(req *pb.AggRequest) *pb.AggResponse {
	if c.cfg.Role != Helper {
		return &pb.AggResponse{Error: &pb.Error{Code: pb.ErrorCode_UNSUPPORTED, Detail: "not the helper collector"}}
	}
	switch b := req.Body.(type) {
	case *pb.AggRequest_Prepare:
		return c.prepare(b.Prepare)
	case *pb.AggRequest_Collect:
		return c.collect(b.Collect)
	}
	return &pb.AggResponse{Error: &pb.Error{Code: pb.ErrorCode_UNSUPPORTED, Detail: "unknown request"}}
}

// prepare checks each item (a nonce summed before is refused, so a leader
// replaying a report cannot weight it; so is a nonce naming another day,
// and a whole day already collected, so a leader cannot replay a summed
// report into a second total to difference it out), sums the valid ones
// and returns the prep messages.
func (c *Collector) prepare(p *pb.AggPrepare) *pb.AggResponse {
	// The collected check, the seen check and the sum are read and written
	// in one transaction, so concurrent prepares of a day each add to the
	// sum rather than overwrite it. The proofs are checked inside it too:
	// bbolt's single writer is what serialises the helper's use of c.v
	// (circl's Prio3 keeps scratch state and is not safe for concurrent
	// use).
	out := &pb.AggResponse{PrepMessages: make([][]byte, len(p.Items))}
	err := c.db.Update(func(tx *bolt.Tx) error {
		clear(out.PrepMessages) // a retried transaction starts over
		if tx.Bucket(bCollected).Get(dayKey(p.Day)) != nil {
			return errCollected
		}
		agg, err := c.sumIn(tx, p.Day)
		if err != nil {
			return err
		}
		sb := tx.Bucket(bSeen)
		for i, it := range p.Items {
			k := append(dayKey(p.Day), it.Nonce...)
			if sb.Get(k) != nil || crypto.ReportNonceDay(it.Nonce) != p.Day {
				continue
			}
			share, err := crypto.OpenReportShare(it.HelperShare, c.cfg.BoxPub, c.cfg.BoxPriv)
			if err != nil {
				continue
			}
			prep, err := c.v.PrepInit(&c.cfg.VerifyKey, [16]byte(it.Nonce), 1, it.PublicShare, share)
			if err != nil {
				continue
			}
			msg, err := c.v.Combine(it.LeaderPrep, prep.Share)
			if err != nil {
				continue
			}
			if agg.Finish(prep, msg) != nil {
				continue
			}
			out.PrepMessages[i] = msg
			if err := sb.Put(k, []byte{1}); err != nil {
				return err
			}
		}
		return putSum(tx, p.Day, agg)
	})
	switch {
	case errors.Is(err, errCollected):
		return &pb.AggResponse{Error: &pb.Error{Code: pb.ErrorCode_REJECTED, Detail: "day already collected"}}
	case err != nil:
		return &pb.AggResponse{Error: &pb.Error{Code: pb.ErrorCode_INTERNAL, Detail: "store"}}
	}
	return out
}

var errCollected = errors.New("analytics: day already collected")

// collect hands the day's sum to the leader when it holds at least
// MinBatch reports and the leader's count agrees, then forgets the day
// (the sum and the seen nonces) and closes it for good. The sum is read,
// checked and forgotten in one transaction, and handed over only once
// that committed: a sum is never handed over with its day left open.
func (c *Collector) collect(r *pb.AggCollect) *pb.AggResponse {
	var out *pb.AggResponse
	err := c.db.Update(func(tx *bolt.Tx) error {
		agg, err := c.sumIn(tx, r.Day)
		if err != nil {
			return err
		}
		if agg.Count < uint64(c.cfg.MinBatch) {
			out = &pb.AggResponse{Error: &pb.Error{Code: pb.ErrorCode_REJECTED, Detail: "fewer reports than the minimum batch"}}
			return nil
		}
		if agg.Count != r.Count {
			out = &pb.AggResponse{Error: &pb.Error{Code: pb.ErrorCode_REJECTED, Detail: "report counts differ"}}
			return nil
		}
		b, err := agg.Bytes()
		if err != nil {
			return err
		}
		sb := tx.Bucket(bSeen)
		cur := sb.Cursor()
		for k, _ := cur.Seek(dayKey(r.Day)); k != nil && bytes.HasPrefix(k, dayKey(r.Day)); k, _ = cur.Seek(dayKey(r.Day)) {
			if err := sb.Delete(k); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bCollected).Put(dayKey(r.Day), []byte{1}); err != nil {
			return err
		}
		out = &pb.AggResponse{AggShare: b, Count: agg.Count}
		return tx.Bucket(bSums).Delete(dayKey(r.Day))
	})
	if err != nil {
		return &pb.AggResponse{Error: &pb.Error{Code: pb.ErrorCode_INTERNAL, Detail: "store"}}
	}
	return out
}

// Published returns every published day, oldest first.
func (c *Collector) Published() []Result {
	var out []Result
	_ = c.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bPublished).ForEach(func(_, v []byte) error {
			var r Result
			if json.Unmarshal(v, &r) == nil {
				out = append(out, r)
			}
			return nil
		})
	})
	return out
}

// Latest returns the most recent published day (a zero Result if none)
// from memory: the relay's gauges, one per field, each ask on every
// scrape. Its Totals map is shared: read it, never write it.
func (c *Collector) Latest() Result {
	if r := c.latest.Load(); r != nil {
		return *r
	}
	return Result{}
}

// loadLatest reads the most recent published day that decodes (New).
func (c *Collector) loadLatest() *Result {
	var r *Result
	_ = c.db.View(func(tx *bolt.Tx) error {
		cur := tx.Bucket(bPublished).Cursor()
		for k, v := cur.Last(); k != nil; k, v = cur.Prev() {
			var x Result
			if json.Unmarshal(v, &x) == nil {
				r = &x
				return nil
			}
		}
		return nil
	})
	return r
}

// Pending returns how many reports wait (leader) to be summed: a count
// kept beside the bucket (the relay's gauge reads it on every scrape).
func (c *Collector) Pending() int { return int(c.pending.Load()) }
