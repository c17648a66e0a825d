package relay

// The gossip outbox: what this relay publishes to its network is collected
// for gossipBatchDelay and published as one RendezvousGossipBatch (one
// pubsub message, one signature), instead of one message per
// announcement. docs/relay.md, "Gossip batches".

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// gossipBatchDelay is how long the outbox collects gossip items after the
// first one before it publishes them as one batch: 250 ms (sooner when a
// batch is full: MaxGossipBatch items or MaxGossipMessage bytes). Every
// pubsub message costs a signature here, a signature check, a decode and
// a seen-cache entry at every other relay, and an RPC per mesh link; a
// busy relay takes in announcements every few milliseconds, so one
// message per announcement spent most of the relays' gossip work on
// envelopes. The price: a match between friends on different relays is
// found up to 250 ms later (announcements are matched at once at their
// own relay; gossip already took a network round trip).
const gossipBatchDelay = 250 * time.Millisecond

// gossipOutboxBatches caps the full batches waiting to be published: 16
// (at most 12 MiB). Beyond it new items are dropped and counted
// (drops_total{reason="gossip_outbox_full"}): the local match still
// happens, the other relays miss the item, as when pubsub's own queues
// overflow.
const gossipOutboxBatches = 16

// gossipOutbox collects encoded gossip items into batches. Items keep the
// order they were added in: batches are published in order by one
// publisher at a time (pub).
type gossipOutbox struct {
	pub sync.Mutex // held while publishing, so batches leave in order

	mu    sync.Mutex // guards the fields below
	buf   []byte     // the open batch, encoded (protocol.AppendGossipItem)
	n     int        // items in buf
	ready [][]byte   // full batches, oldest first

	started chan struct{} // an item went into an empty outbox (cap 1)
	full    chan struct{} // a batch filled up: publish now (cap 1)
}

func newGossipOutbox() *gossipOutbox {
	return &gossipOutbox{started: make(chan struct{}, 1), full: make(chan struct{}, 1)}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// add appends one encoded item (at most MaxGossipMessage -
// GossipItemOverhead bytes); false if the outbox is full (dropped).
func (o *gossipOutbox) add(item []byte) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n > 0 && (len(o.buf)+len(item)+protocol.GossipItemOverhead > protocol.MaxGossipMessage || o.n >= protocol.MaxGossipBatch) {
		if len(o.ready) >= gossipOutboxBatches {
			return false
		}
		o.ready = append(o.ready, o.buf)
		o.buf, o.n = nil, 0
		signal(o.full)
	}
	if o.n == 0 && len(o.ready) == 0 {
		signal(o.started)
	}
	o.buf = protocol.AppendGossipItem(o.buf, item)
	o.n++
	return true
}

// take returns every batch, oldest first, and empties the outbox.
func (o *gossipOutbox) take() [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	bs := o.ready
	if o.n > 0 {
		bs = append(bs, o.buf)
	}
	o.ready, o.buf, o.n = nil, nil, 0
	return bs
}

// publish hands m to the outbox, which publishes it within
// gossipBatchDelay together with what else this relay gossips meanwhile;
// m is validated and encoded here, and split if it would not fit one
// batch alone.
func (g *gossip) publish(m *pb.RendezvousGossip) {
	b, err := protocol.EncodeGossip(m)
	if err == nil && len(b)+protocol.GossipItemOverhead > protocol.MaxGossipMessage {
		err = &protocol.Error{Code: pb.ErrorCode_TOO_LARGE}
	}
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Code == pb.ErrorCode_TOO_LARGE && len(m.Announcements) > 1 {
		h := len(m.Announcements) / 2
		// Each half carries the shared record: its announcements' shares
		// are useless without it.
		g.publish(&pb.RendezvousGossip{Origin: m.Origin, Epoch: m.Epoch, EpochSeconds: m.EpochSeconds, Announcements: m.Announcements[:h], SharedRecord: m.SharedRecord, ForgetTag: m.ForgetTag, Late: m.Late})
		g.publish(&pb.RendezvousGossip{Origin: m.Origin, Epoch: m.Epoch, EpochSeconds: m.EpochSeconds, Announcements: m.Announcements[h:], SharedRecord: m.SharedRecord, ForgetTag: m.ForgetTag, Late: m.Late})
		return
	}
	if err != nil {
		return
	}
	if !g.out.add(b) {
		g.r.m.drop(dropGossipOutbox)
		return
	}
	g.r.m.gossipItemsOut.Inc()
}

// flush publishes everything in the outbox now, in order.
func (g *gossip) flush(ctx context.Context) {
	g.out.pub.Lock()
	defer g.out.pub.Unlock()
	for _, b := range g.out.take() {
		if err := g.topic.Publish(ctx, b); err != nil {
			continue
		}
		g.r.m.gossipOut.Inc()
	}
}

// publisher publishes the outbox gossipBatchDelay after its first item,
// or at once when a batch is full, until ctx ends. Owned by the relay
// (r.wg).
func (g *gossip) publisher(ctx context.Context) {
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	var wait <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-g.out.started:
			if wait == nil {
				t.Reset(gossipBatchDelay)
				wait = t.C
			}
			continue
		case <-g.out.full:
		case <-wait:
		}
		wait = nil
		t.Stop()
		g.flush(ctx)
	}
}
