package relay

import (
	"context"
	"sync"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	pubsubpb "github.com/libp2p/go-libp2p-pubsub/pb"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
	"github.com/imigee/imigee/relay/history"
	"github.com/imigee/imigee/relay/rendezvous"
)

// gossipQueue is the pubsub per-peer outbound and validation queue depth:
// 4096, since the default 32 lost a quarter of a burst in BASELINES.md.
const gossipQueue = 4096

// Mesh degree of the relays' gossip topic: gossipsub's D, Dlo, Dhi
// (gossipsub defaults 6, 5, 12; here 3, 2, 5). A relay publishes to every peer relay it is
// connected to (flood publishing, gossipsub's default for one's own
// messages), so in a network whose relays list each other the mesh only
// repairs what a down link misses; with D = 6 among a handful of relays
// every relay took in each announcement about six times (each copy read,
// decoded and looked up, and sent by its forwarder). D = 3 keeps three
// forwarding paths per relay plus the lazy gossip (IHAVE to gossipsub's
// Dlazy = 6 other peers every heartbeat) as the fallback: docs/relay.md
// ("Gossip mesh degree"), TestGossipLinksDown.
const (
	gossipD   = 3
	gossipDlo = 2
	gossipDhi = 5
)

// gossipParams are gossipsub's defaults with the mesh degree above. Dout
// (outbound mesh quota against eclipse attacks, which must stay below
// D/2) is 0: only configured relays may join the topic at all; Dscore
// (peers kept by score when the mesh is pruned) is 2.
func gossipParams() pubsub.GossipSubParams {
	p := pubsub.DefaultGossipSubParams()
	p.D, p.Dlo, p.Dhi, p.Dout, p.Dscore = gossipD, gossipDlo, gossipDhi, 0, 2
	return p
}

// remoteKey names a session announced through another relay: the relay's
// peer ID and the session's random origin. Neither identifies a client.
type remoteKey struct {
	relay  peer.ID
	origin [protocol.OriginSize]byte
}

// gossip is the relay's membership in its network's gossipsub topic.
type gossip struct {
	r     *Relay
	ps    *pubsub.PubSub
	topic *pubsub.Topic
	sub   *pubsub.Subscription
	// v1 is the subscription to the pre-batch topic (protocol.GossipTopicV1):
	// receive only, for relays of the network not upgraded yet.
	v1topic *pubsub.Topic
	v1      *pubsub.Subscription

	mem *gossipMem
	out *gossipOutbox

	mu     sync.Mutex // guards remote
	remote map[remoteKey]*rendezvous.Session
}

// topicName is the gossip topic of a network.
func topicName(network string) string { return protocol.GossipTopic + "/" + network }

// topicNameV1 is the network's topic of relays before gossip batches.
func topicNameV1(network string) string { return protocol.GossipTopicV1 + "/" + network }

func (r *Relay) startGossip(ctx context.Context) error {
	gm := newGossipMem(r.mem)
	ps, err := pubsub.NewGossipSub(ctx, r.host,
		pubsub.WithGossipSubParams(gossipParams()),
		pubsub.WithMaxMessageSize(protocol.MaxGossipMessage+4<<10),
		pubsub.WithPeerOutboundQueueSize(gossipQueue),
		pubsub.WithValidateQueueSize(gossipQueue),
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithRawTracer(&meshTracer{mesh: r.m.gossipMesh, dropped: r.m.gossipDrop, dup: r.m.gossipDup, mem: gm}),
		pubsub.WithSubscriptionFilter(relayFilter{topics: [2]string{topicName(r.cfg.Network), topicNameV1(r.cfg.Network)}, trusted: r.isTrusted}),
		pubsub.WithPeerFilter(func(p peer.ID, _ string) bool { return r.isTrusted(p) }),
	)
	if err != nil {
		return err
	}
	g := &gossip{r: r, ps: ps, mem: gm, out: newGossipOutbox(), remote: make(map[remoteKey]*rendezvous.Session)}
	if g.topic, g.sub, err = joinTopic(ps, topicName(r.cfg.Network), g.validate); err != nil {
		return err
	}
	if g.v1topic, g.v1, err = joinTopic(ps, topicNameV1(r.cfg.Network), g.validateV1); err != nil {
		return err
	}
	r.gossip = g
	r.wg.Add(3)
	go func() {
		defer r.wg.Done()
		g.loop(ctx, g.sub)
	}()
	go func() {
		defer r.wg.Done()
		g.loop(ctx, g.v1)
	}()
	go func() {
		defer r.wg.Done()
		g.publisher(ctx)
	}()
	return nil
}

// joinTopic registers validate for name, joins it and subscribes.
func joinTopic(ps *pubsub.PubSub, name string, validate pubsub.ValidatorEx) (*pubsub.Topic, *pubsub.Subscription, error) {
	if err := ps.RegisterTopicValidator(name, validate); err != nil {
		return nil, nil, err
	}
	t, err := ps.Join(name)
	if err != nil {
		return nil, nil, err
	}
	sub, err := t.Subscribe(pubsub.WithBufferSize(gossipQueue))
	if err != nil {
		return nil, nil, err
	}
	return t, sub, nil
}

// relayFilter lets only trusted relays (Config.Peers) subscribe to the
// gossip topic, so a client that speaks pubsub to the relay can neither
// read announcements (a silent probe) nor be sent any.
type relayFilter struct {
	topics  [2]string // the network's topic and its pre-batch one
	trusted func(peer.ID) bool
}

func (f relayFilter) CanSubscribe(topic string) bool {
	return topic == f.topics[0] || topic == f.topics[1]
}

func (f relayFilter) FilterIncomingSubscriptions(p peer.ID, subs []*pubsubpb.RPC_SubOpts) ([]*pubsubpb.RPC_SubOpts, error) {
	if !f.trusted(p) {
		return nil, nil
	}
	out := subs[:0:0]
	for _, s := range subs {
		if f.CanSubscribe(s.GetTopicid()) {
			out = append(out, s)
		}
	}
	return out, nil
}

// validate rejects gossip that does not come from a trusted relay or does
// not decode and validate (a batch with one bad item is rejected whole),
// so pubsub neither delivers nor forwards it (a client could otherwise
// announce through gossip around its token budget); the decoded message rides along. Its bytes are reserved on the
// forwarding peer's share of the memory budget before decoding and until
// the loop has applied it; a message that does not fit is ignored (neither
// delivered nor forwarded) and counted.
func (g *gossip) validate(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	return g.check(from, msg, true, func(data []byte) (*pb.RendezvousGossipBatch, error) {
		m := &pb.RendezvousGossipBatch{}
		return m, protocol.DecodeGossipBatch(data, m)
	})
}

// validateV1 is validate for the pre-batch topic: one bare
// RendezvousGossip per message, handed on as a batch of one. This relay
// never publishes there.
func (g *gossip) validateV1(_ context.Context, from peer.ID, msg *pubsub.Message) pubsub.ValidationResult {
	return g.check(from, msg, false, func(data []byte) (*pb.RendezvousGossipBatch, error) {
		m := &pb.RendezvousGossip{}
		return &pb.RendezvousGossipBatch{Items: []*pb.RendezvousGossip{m}}, protocol.DecodeGossip(data, m)
	})
}

// check is both topics' validator: trust, the memory budget, then decode.
// own says this relay publishes on the topic (its own messages pass
// undecoded).
func (g *gossip) check(from peer.ID, msg *pubsub.Message, own bool, decode func([]byte) (*pb.RendezvousGossipBatch, error)) pubsub.ValidationResult {
	self := own && from == g.r.host.ID()
	if !self && !g.r.isTrusted(from) {
		g.r.m.drop(dropGossipUntrusted)
		return pubsub.ValidationReject
	}
	if g.mem.outFull() {
		g.r.m.drop(dropMemory)
		return pubsub.ValidationIgnore
	}
	if self {
		// Our own batch, being published (pubsub validates it locally
		// first): built from items EncodeGossip validated
		// (gossip_out.go), and the loop skips our own messages, so
		// decoding it again would only cost.
		return pubsub.ValidationAccept
	}
	if !g.mem.hold(from, msg, 2*len(msg.Data)) {
		return pubsub.ValidationIgnore
	}
	m, err := decode(msg.Data)
	if err != nil {
		g.mem.done(msg)
		g.r.m.drop(dropGossipInvalid)
		return pubsub.ValidationReject
	}
	msg.ValidatorData = m
	return pubsub.ValidationAccept
}

// loop applies gossip from other relays arriving on sub until ctx ends.
func (g *gossip) loop(ctx context.Context, sub *pubsub.Subscription) {
	self := g.r.host.ID()
	for {
		msg, err := sub.Next(ctx)
		if err != nil {
			return
		}
		if msg.ReceivedFrom == self || msg.GetFrom() == self {
			g.mem.done(msg)
			continue
		}
		b, ok := msg.ValidatorData.(*pb.RendezvousGossipBatch)
		if !ok || !g.apply(msg.ReceivedFrom, msg.GetFrom(), b, msg) {
			g.mem.done(msg)
		}
	}
}

// apply applies a batch's items in order. The history writes among them
// go to the history writer together, which then owns msg's reservation
// (apply returns true).
func (g *gossip) apply(via, from peer.ID, b *pb.RendezvousGossipBatch, msg *pubsub.Message) bool {
	var ops []history.Op
	for _, m := range b.Items {
		if op, ok := g.applyItem(via, from, m); ok {
			ops = append(ops, op)
		}
	}
	if len(ops) == 0 {
		return false
	}
	return g.enqueueHistory(ops, msg)
}

// applyItem matches a remote announcement like a local one and notifies
// local sessions; the remote side's own relay notifies its client.
// Its entries are reserved on the share of the peer that forwarded it (via).
// Live and late announcements and forgets are also returned as a history
// write (ok).
func (g *gossip) applyItem(via, from peer.ID, m *pb.RendezvousGossip) (history.Op, bool) {
	r := g.r
	if len(m.Forget) > 0 || m.Late {
		return g.applyHistory(m)
	}
	k := remoteKey{relay: from}
	copy(k.origin[:], m.Origin)
	g.mu.Lock()
	s := g.remote[k]
	if m.Withdraw {
		delete(g.remote, k)
		g.mu.Unlock()
		if s != nil {
			r.rv.Close(s)
		}
		r.m.gossipIn.Inc()
		return history.Op{}, false
	}
	if s == nil {
		if len(g.remote) >= r.cfg.Rendezvous.MaxRemoteSessions {
			g.mu.Unlock()
			r.m.drop(dropGossipRefused)
			return history.Op{}, false
		}
		s = r.rv.NewAccountedSession(nil, nil, g.mem.account(via))
		g.remote[k] = s
	}
	g.mu.Unlock()
	_, _, others, err := r.rv.AnnounceShared(s, m.EpochSeconds, m.Epoch, m.SharedRecord, engineAnnouncements(m.Announcements))
	if err != nil {
		r.m.drop(dropGossipRefused)
		return history.Op{}, false
	}
	r.m.gossipIn.Inc()
	r.deliver(others)
	if r.hist == nil {
		return history.Op{}, false
	}
	return history.Op{Announce: histFrom(m.Origin, m.EpochSeconds, m.Epoch, m.SharedRecord, m.ForgetTag, m.Announcements)}, true
}

// applyHistory returns a gossiped late announcement or forget as a
// history write. A late announcement outside this relay's window (or of
// another epoch length) is not kept; matching it is its own relay's job.
func (g *gossip) applyHistory(m *pb.RendezvousGossip) (history.Op, bool) {
	r := g.r
	if r.hist == nil {
		r.hm.notStored.WithLabelValues(histOff).Inc()
		return history.Op{}, false
	}
	r.m.gossipIn.Inc()
	if len(m.Forget) > 0 {
		return history.Op{Forget: histSecrets(m.Forget)}, true
	}
	if m.EpochSeconds != r.cfg.Rendezvous.EpochSeconds || !r.hist.InWindow(m.EpochSeconds, m.Epoch) {
		r.hm.notStored.WithLabelValues(histStale).Inc()
		return history.Op{}, false
	}
	return history.Op{Announce: histFrom(m.Origin, m.EpochSeconds, m.Epoch, m.SharedRecord, m.ForgetTag, m.Announcements)}, true
}

// prune forgets remote sessions whose entries all expired.
func (g *gossip) prune() {
	g.mem.expire(time.Now())
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, s := range g.remote {
		if g.r.rv.Entries(s) == 0 {
			delete(g.remote, k)
		}
	}
}

// gossipAnnounce shares a local announcement with the network.
func (r *Relay) gossipAnnounce(rs *rvStream, a *pb.Announce) {
	if r.gossip == nil {
		return
	}
	r.gossip.publish(&pb.RendezvousGossip{Origin: rs.origin[:], Epoch: a.Epoch, EpochSeconds: a.EpochSeconds, Announcements: a.Announcements, SharedRecord: a.SharedRecord, ForgetTag: a.ForgetTag})
}

// gossipWithdraw tells the network a local session withdrew.
func (r *Relay) gossipWithdraw(s *rendezvous.Session) {
	rs, ok := s.Owner().(*rvStream)
	if !ok || r.gossip == nil {
		return
	}
	r.gossip.publish(&pb.RendezvousGossip{Origin: rs.origin[:], Withdraw: true})
}

func (g *gossip) close() {
	g.sub.Cancel()
	g.v1.Cancel()
	_ = g.topic.Close()
	_ = g.v1topic.Close()
	g.mem.releaseAll()
}

// isTrusted reports whether p may take part in gossip.
func (r *Relay) isTrusted(p peer.ID) bool { return r.cfg.GossipOpen || r.trusted[p] }
