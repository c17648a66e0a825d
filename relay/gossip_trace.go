package relay

import (
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/prometheus/client_golang/prometheus"
)

// meshTracer keeps aggregate gossip figures for metrics: the number of mesh
// peers (grafts minus prunes) and dropped RPCs. It sees peer IDs of other
// relays but keeps none.
type meshTracer struct {
	mesh    prometheus.Gauge
	dropped prometheus.Counter
	// undeliverable releases the budget reservation of a validated message
	// pubsub could not hand to the subscription (gossip_mem.go).
	undeliverable func(*pubsub.Message)
}

var _ pubsub.RawTracer = (*meshTracer)(nil)

func (t *meshTracer) Graft(peer.ID, string)                                { t.mesh.Inc() }
func (t *meshTracer) Prune(peer.ID, string)                                { t.mesh.Dec() }
func (t *meshTracer) DropRPC(*pubsub.RPC, peer.ID)                         { t.dropped.Inc() }
func (t *meshTracer) AddPeer(peer.ID, protocol.ID)                         {}
func (t *meshTracer) RemovePeer(peer.ID)                                   {}
func (t *meshTracer) OnNewOutboundStream(peer.ID, protocol.ID)             {}
func (t *meshTracer) OnClosedOutboundStream(peer.ID)                       {}
func (t *meshTracer) Join(string)                                          {}
func (t *meshTracer) Leave(string)                                         {}
func (t *meshTracer) ValidateMessage(*pubsub.Message)                      {}
func (t *meshTracer) DeliverMessage(*pubsub.Message)                       {}
func (t *meshTracer) RejectMessage(*pubsub.Message, string)                {}
func (t *meshTracer) DuplicateMessage(*pubsub.Message)                     {}
func (t *meshTracer) ThrottlePeer(peer.ID)                                 {}
func (t *meshTracer) RecvRPC(*pubsub.RPC)                                  {}
func (t *meshTracer) SendRPC(*pubsub.RPC, peer.ID)                         {}
func (t *meshTracer) SendRPCCompleted(*pubsub.RPC, peer.ID, time.Duration) {}
func (t *meshTracer) UndeliverableMessage(m *pubsub.Message) {
	if t.undeliverable != nil {
		t.undeliverable(m)
	}
}
