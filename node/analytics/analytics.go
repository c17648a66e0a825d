// Package analytics is the phone side of anonymous analytics (DESIGN.md
// P13): per-day counters of what the node already knows (never an ID, a
// name, a place or a time finer than the day), turned once a day into one
// fixed-size report split into Prio3 shares for two collectors
// (crypto/report.go), and sent from a one-off transport identity that
// exists only for that report (no mailbox, token or device key).
//
// # Concurrency
//
// Counters is safe for concurrent use (mu guards the days). Send uses the
// one-off host its caller made for the report; it holds no lock while on
// the network.
package analytics

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	lprotocol "github.com/libp2p/go-libp2p/core/protocol"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// KeepDays is how many days of counters a phone keeps (today and the days
// not yet reported): 3.
const KeepDays = 3

// ErrUnknownField means a counter name is not in protocol.AnalyticsFields.
var ErrUnknownField = errors.New("analytics: unknown field")

var fieldIndex = func() map[string]int {
	m := map[string]int{}
	for i, f := range protocol.AnalyticsFields {
		m[f] = i
	}
	return m
}()

// Counters holds the per-day counts.
type Counters struct {
	mu   sync.Mutex // guards days
	days map[uint32][]uint64
}

// NewCounters returns empty counters (or those saved by Snapshot).
func NewCounters(saved map[uint32][]uint64) *Counters {
	c := &Counters{days: map[uint32][]uint64{}}
	for d, v := range saved {
		if len(v) == len(protocol.AnalyticsFields) {
			c.days[d] = slices.Clone(v)
		}
	}
	return c
}

// Add counts n of field on day; days older than KeepDays are dropped.
func (c *Counters) Add(day uint32, field string, n uint64) error {
	i, ok := fieldIndex[field]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownField, field)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.days[day]
	if v == nil {
		v = make([]uint64, len(protocol.AnalyticsFields))
		c.days[day] = v
		for d := range c.days {
			if d+KeepDays <= day {
				delete(c.days, d)
			}
		}
	}
	v[i] += n
	return nil
}

// Snapshot copies the counters (to persist them).
func (c *Counters) Snapshot() map[uint32][]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[uint32][]uint64, len(c.days))
	for d, v := range c.days {
		out[d] = slices.Clone(v)
	}
	return out
}

// Values returns the report vector of day: every field capped at
// 2^AnalyticsBits − 1, "reports" set to 1, so each report counts one phone.
func (c *Counters) Values(day uint32) []uint64 {
	c.mu.Lock()
	src := slices.Clone(c.days[day])
	c.mu.Unlock()
	out := make([]uint64, len(protocol.AnalyticsFields))
	for i := range out {
		if i < len(src) {
			out[i] = min(src[i], 1<<protocol.AnalyticsBits-1)
		}
	}
	out[fieldIndex["reports"]] = 1
	return out
}

// Forget drops a day (sent, or analytics switched off).
func (c *Counters) Forget(day uint32) {
	c.mu.Lock()
	delete(c.days, day)
	c.mu.Unlock()
}

// Days lists the days held, oldest first.
func (c *Counters) Days() []uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []uint32
	for d := range c.days {
		out = append(out, d)
	}
	slices.Sort(out)
	return out
}

// Collectors names the two collectors of a network.
type Collectors struct {
	// Leader is the leader's multiaddr ending in /p2p/ID.
	Leader string
	// LeaderKey and HelperKey are the collectors' X25519 public keys.
	LeaderKey, HelperKey *[32]byte
}

// Build shards values into one report for day, each share sealed to its
// collector. Every report of the schema has the same size.
func Build(day uint32, values []uint64, col Collectors) (*pb.AnalyticsReport, error) {
	v, err := crypto.NewReportVDAF(uint(len(protocol.AnalyticsFields)), protocol.AnalyticsBits)
	if err != nil {
		return nil, err
	}
	sh, err := v.ShardDay(values, day, rand.Reader)
	if err != nil {
		return nil, err
	}
	ls, err := crypto.SealReportShare(sh.Leader, col.LeaderKey, rand.Reader)
	if err != nil {
		return nil, err
	}
	hs, err := crypto.SealReportShare(sh.Helper, col.HelperKey, rand.Reader)
	if err != nil {
		return nil, err
	}
	return &pb.AnalyticsReport{Day: day, Nonce: sh.Nonce[:], PublicShare: sh.Public, LeaderShare: ls, HelperShare: hs, Schema: protocol.AnalyticsSchema}, nil
}

// Send delivers one report over h, a client-only host under a fresh
// transport identity that the caller made for this report alone and closes
// after it (node.clientHost): nothing links it to the phone's other
// connections or to its other reports but the network address.
func Send(ctx context.Context, h host.Host, rep *pb.AnalyticsReport, leader string) error {
	ai, err := peer.AddrInfoFromString(leader)
	if err != nil {
		return fmt.Errorf("analytics: leader address: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := h.Connect(ctx, *ai); err != nil {
		return fmt.Errorf("analytics: reach the leader: %w", err)
	}
	s, err := h.NewStream(ctx, ai.ID, lprotocol.ID(protocol.AnalyticsProtocol))
	if err != nil {
		return fmt.Errorf("analytics: open stream: %w", err)
	}
	defer s.Close()
	_ = s.SetDeadline(time.Now().Add(time.Minute))
	if err := protocol.WriteMsg(s, rep); err != nil {
		return fmt.Errorf("analytics: send: %w", err)
	}
	var ack pb.AnalyticsAck
	if err := protocol.ReadMsg(s, &ack, protocol.MaxAnalyticsFrame); err != nil {
		return fmt.Errorf("analytics: ack: %w", err)
	}
	if ack.Error != nil {
		return fmt.Errorf("analytics: leader: %w", protocol.FromPB(ack.Error))
	}
	return nil
}
