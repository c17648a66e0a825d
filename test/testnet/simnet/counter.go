package simnet

import (
	"sync/atomic"
	"time"

	"github.com/libp2p/go-libp2p/core/metrics"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
)

// byteCounter is a libp2p metrics.Reporter that only sums bytes.
// metrics.NewBandwidthCounter would do, but its rate meters share one
// process-wide sweeper goroutine; started inside a synctest bubble it
// outlives the bubble, which synctest reports as a deadlock. Totals are
// all the testnet needs. Counted are stream payload bytes (what the
// swarm reports), not QUIC packet overhead.
type byteCounter struct {
	in, out atomic.Int64
}

var _ metrics.Reporter = (*byteCounter)(nil)

func (c *byteCounter) LogSentMessage(n int64) { c.out.Add(n) }
func (c *byteCounter) LogRecvMessage(n int64) { c.in.Add(n) }
func (c *byteCounter) LogSentMessageStream(n int64, _ protocol.ID, _ peer.ID) {
	c.out.Add(n)
}
func (c *byteCounter) LogRecvMessageStream(n int64, _ protocol.ID, _ peer.ID) {
	c.in.Add(n)
}
func (c *byteCounter) GetBandwidthForPeer(peer.ID) metrics.Stats         { return metrics.Stats{} }
func (c *byteCounter) GetBandwidthForProtocol(protocol.ID) metrics.Stats { return metrics.Stats{} }
func (c *byteCounter) GetBandwidthTotals() metrics.Stats {
	return metrics.Stats{TotalIn: c.in.Load(), TotalOut: c.out.Load()}
}
func (c *byteCounter) GetBandwidthByPeer() map[peer.ID]metrics.Stats         { return nil }
func (c *byteCounter) GetBandwidthByProtocol() map[protocol.ID]metrics.Stats { return nil }
func (c *byteCounter) Reset()                                                {}
func (c *byteCounter) TrimIdle(time.Time)                                    {}
