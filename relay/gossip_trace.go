package relay

import (
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"
)

// meshTracer keeps aggregate gossip figures for metrics: the number of mesh
// peers (grafts minus prunes), dropped RPCs and duplicate messages. It sees peer IDs of other
// relays but keeps none.
type meshTracer struct {
	mesh    prometheus.Gauge
	dropped prometheus.Counter
	dup     prometheus.Counter // nil: not counted
	// mem is the gossip's share of the memory budget (gossip_mem.go): an
	// undeliverable message's hold is released; queued RPCs are charged
	// until written, dropped or their peer is gone. nil = no accounting.
	mem *gossipMem
}

var _ pubsub.RawTracer = (*meshTracer)(nil)

func (t *meshTracer) Graft(peer.ID, string) { t.mesh.Inc() }
func (t *meshTracer) Prune(peer.ID, string) { t.mesh.Dec() }
func (t *meshTracer) DropRPC(rpc *pubsub.RPC, p peer.ID) {
	t.dropped.Inc()
	if t.mem != nil {
		t.mem.sent(rpc, p, true)
	}
}
func (t *meshTracer) AddPeer(peer.ID, protocol.ID) {}
func (t *meshTracer) RemovePeer(p peer.ID) {
	if t.mem != nil {
		t.mem.peerGone(p)
	}
}
func (t *meshTracer) OnNewOutboundStream(peer.ID, protocol.ID) {}
func (t *meshTracer) OnClosedOutboundStream(peer.ID)           {}
func (t *meshTracer) Join(string)                              {}
func (t *meshTracer) Leave(string)                             {}
func (t *meshTracer) ValidateMessage(*pubsub.Message)          {}
func (t *meshTracer) DeliverMessage(*pubsub.Message)           {}
func (t *meshTracer) RejectMessage(*pubsub.Message, string)    {}
func (t *meshTracer) DuplicateMessage(*pubsub.Message) {
	if t.dup != nil {
		t.dup.Inc()
	}
}
func (t *meshTracer) ThrottlePeer(peer.ID) {}
func (t *meshTracer) RecvRPC(*pubsub.RPC)  {}
func (t *meshTracer) SendRPC(rpc *pubsub.RPC, p peer.ID) {
	if t.mem != nil {
		t.mem.queued(rpc, p)
	}
}
func (t *meshTracer) SendRPCCompleted(rpc *pubsub.RPC, p peer.ID, _ time.Duration) {
	if t.mem != nil {
		t.mem.sent(rpc, p, false)
	}
}
func (t *meshTracer) UndeliverableMessage(m *pubsub.Message) {
	if t.mem != nil {
		t.mem.done(m)
	}
}
