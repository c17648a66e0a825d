package node

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/localstore"
	"github.com/imigee/imigee/node/relayclient"
	proto "github.com/imigee/imigee/protocol"
)

// Mailbox sizes and limits.
const (
	// MailboxBlobBucket is the padded size of every chunk blob, the last
	// one of an item included: protocol.BulkBlobSize (256 KiB), below
	// every relay's blob cap (at most 1 MiB); it carries 3 sealed chunks.
	MailboxBlobBucket = proto.BulkBlobSize
	// MailboxFetchTimeout bounds one catch-up of all mailboxes: 2 min.
	MailboxFetchTimeout = 2 * time.Minute
)

// relayConn is this node's link to one relay: its mailbox session on the
// day's mailbox identity (c, sub) and its rendezvous session on the
// announce identity (ann, rv); see transport.go. A day change replaces the
// relayConn (a new c on the new day's host); a rotation replaces ann.
type relayConn struct {
	ai  peer.AddrInfo
	c   *relayclient.Client // on the day's mailbox host
	sub *relayclient.Subscription
	day uint32 // day the subscription covers
	// ann is a client on the announce host annH, for the rendezvous (rv);
	// guarded by Node.mu.
	ann  *relayclient.Client
	annH host.Host
	// subAt (real time) is when sub was made; flaps counts subscriptions
	// in a row that ended soon after being made (subFlapFactor), so a
	// relay that keeps dropping them is redialled ever more slowly.
	subAt time.Time
	flaps int
	rv    *relayclient.Rendezvous

	// subscribing admits one resubscribe at a time per relay, so the
	// subscription that stays is the one made last, from the latest
	// friend set (concurrent links each resubscribe: without it an older
	// key set could replace a newer one, and a new friend's mailbox go
	// unwatched until the next catch-up). A channel for the same reason
	// as fetching.
	subscribing chan struct{}

	// fetching admits one catch-up at a time per relay. A channel, not a
	// mutex: a catch-up waiting its turn gives up when its context ends,
	// and under testing/synctest (the simulator) it is durably blocked
	// instead of hanging virtual time.
	fetching chan struct{}

	// circuit is the address through this relay that rendezvous records
	// carry (recordAddrs); nil when the relay has no address. Made once:
	// parsing it at every announcement was 0.7 % of a simulated day.
	circuit ma.Multiaddr
}

func newRelayConn(h host.Host, ai peer.AddrInfo) *relayConn {
	rc := &relayConn{ai: ai, c: relayclient.New(h, ai, relayclient.Config{}),
		fetching: make(chan struct{}, 1), subscribing: make(chan struct{}, 1)}
	if len(ai.Addrs) > 0 {
		if c, err := ma.NewMultiaddr(ai.Addrs[0].String() + "/p2p/" + ai.ID.String() + "/p2p-circuit"); err == nil {
			rc.circuit = c
		}
	}
	return rc
}

// hasRelays reports whether any relay is configured.
func (n *Node) hasRelays() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.relays) > 0
}

func (n *Node) today() uint32 { return uint32(n.cfg.Now().Unix() / 86400) }

// relayConnected sets up the mailbox side at a relay (on the day's
// mailbox identity, not the announce host that just connected): a
// subscription to today's mailboxes and a catch-up fetch. A live
// subscription is left alone (an announce rotation reattaches, the
// mailbox session does not change). It returns the subscription's error
// (the catch-up runs anyway).
func (n *Node) relayConnected(ctx context.Context, ai peer.AddrInfo) error {
	dh, err := n.dayHost()
	if err != nil {
		return err
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return ErrClosed
	}
	rc := n.rconns[ai.ID]
	if rc == nil {
		rc = newRelayConn(n.relayHost(dh), ai)
		n.rconns[ai.ID] = rc
	}
	live := false
	if rc.sub != nil {
		select {
		case <-rc.sub.Done():
		default:
			live = true
		}
	}
	n.mu.Unlock()
	if live {
		return nil
	}
	pending, err := n.resubscribe(rc)
	n.spawn(func(ctx context.Context) { n.catchUpAfterSubscribe(ctx, rc, pending) })
	n.bump()
	return err
}

// catchUpAfterSubscribe is the catch-up after a fresh subscription: the
// blobs the subscription reported pending first (today's mailboxes,
// which a device back online waits for), then the full catch-up, one
// after the other. They were two goroutines racing for rc.fetching, so
// which ran first, and whether the waiting items came one fetch or a
// full catch-up (link requests, past days on one-off identities: 160 ms
// on test/testnet/simnet's sameseed.toml) after the reconnect, followed
// the scheduler (TestSimSameSeed).
func (n *Node) catchUpAfterSubscribe(ctx context.Context, rc *relayConn, pending bool) {
	if pending {
		n.catchUp(ctx, rc, false)
	}
	n.catchUp(ctx, rc, true)
}

// resubscribe (re)subscribes rc to the mailboxes friends drop items into
// today, only today: a subscription never spans two days' mailbox IDs, so
// one day's mailbox identity cannot be joined to the next one's (P12).
// Items a sender with a skewed clock put into yesterday's or tomorrow's
// mailbox are fetched by the catch-ups (a day change fetches yesterday
// again after the skew window; tomorrow's is today's tomorrow). A watcher
// redials the relay if the subscription breaks (relaywatch.go). It
// reports whether the relay holds blobs for them (the caller catches up).
func (n *Node) resubscribe(rc *relayConn) (pending bool, err error) {
	select {
	case rc.subscribing <- struct{}{}:
	case <-n.ctx.Done():
		return false, ErrClosed
	}
	defer func() { <-rc.subscribing }()
	keys, _ := n.inboundKeys(n.today(), n.today())
	// Invite mailboxes too: a request parked while this device was
	// briefly unreachable is handled while it runs.
	keys = append(n.inviteKeys(), keys...)
	if len(keys) == 0 {
		return false, nil
	}
	if len(keys) > 1024 {
		keys = keys[:1024]
	}
	sub, err := rc.c.Subscribe(n.ctx, keys, func(relayclient.Notify) {
		n.log.Debug("mailbox notify")
		n.spawn(func(ctx context.Context) { n.catchUp(ctx, rc, false) })
	})
	if err != nil {
		n.log.Debug("mailbox subscribe failed", "err", err)
		return false, err
	}
	n.mu.Lock()
	old := rc.sub
	rc.sub, rc.day, rc.subAt = sub, n.today(), time.Now()
	n.mu.Unlock()
	if old != nil {
		old.Close()
	}
	n.spawn(func(ctx context.Context) { n.watchSub(ctx, rc, sub) })
	return sub.Pending > 0, nil
}

// refreshSubscriptions resubscribes when the day or the friend set changed.
func (n *Node) refreshSubscriptions() {
	n.mu.Lock()
	var rcs []*relayConn
	for _, rc := range n.rconns {
		rcs = append(rcs, rc)
	}
	n.mu.Unlock()
	for _, rc := range rcs {
		if pending, _ := n.resubscribe(rc); pending {
			n.spawn(func(ctx context.Context) { n.catchUp(ctx, rc, false) })
		}
	}
}

// inboundKeys returns the mailbox keys friends use to reach this device for
// days [from, to], and which friend each mailbox belongs to.
func (n *Node) inboundKeys(from, to uint32) ([]ed25519.PrivateKey, map[crypto.MailboxID]*friend) {
	fs := n.friendList()
	var keys []ed25519.PrivateKey
	owner := map[crypto.MailboxID]*friend{}
	for d := from; d <= to; d++ {
		for _, f := range fs {
			k := f.keys.MailboxKey(d, false)
			keys = append(keys, k)
			owner[crypto.MailboxIDFromPub(k.Public().(ed25519.PublicKey))] = f
		}
	}
	return keys, owner
}

// catchUp fetches every pending blob of this device's mailboxes at rc,
// processes and acks them: today's on the day's mailbox session, and with
// full, each earlier day since the last successful full catch-up (at most
// the retention window) on a one-off identity of its own, so no identity
// fetches two days (P12). A notification needs only today's.
func (n *Node) catchUp(ctx context.Context, rc *relayConn, full bool) {
	select {
	case rc.fetching <- struct{}{}:
	case <-ctx.Done():
		return
	}
	defer func() { <-rc.fetching }()
	ctx, cancel := context.WithTimeout(ctx, MailboxFetchTimeout)
	defer cancel()
	today := n.today()
	retDays := uint32(n.cfg.Retention / (24 * time.Hour))
	from := today - retDays
	name := "fetch:" + rc.ai.ID.String()
	if b, err := n.store.Get(localstore.Relays, name); err == nil && len(b) == 4 {
		if last := binary.BigEndian.Uint32(b) - 1; last > from {
			from = last
		}
	}
	// Friends who linked while this device was offline come first, so
	// their items below are recognised.
	n.fetchLinkRequests(ctx, rc)
	if !full {
		from = today
	}
	n.log.Debug("mailbox catch-up", "days", today-from+1)
	ok := true
	for d := from; d <= today; d++ {
		keys, owner := n.inboundKeys(d, d)
		if len(keys) == 0 {
			continue
		}
		var err error
		if d == today && n.dayIs(today) {
			err = n.fetchKeys(ctx, rc.c, keys, owner)
		} else {
			err = n.withOneOff(ctx, rc.ai, func(c *relayclient.Client) error { return n.fetchKeys(ctx, c, keys, owner) })
		}
		if err != nil {
			n.log.Debug("mailbox fetch failed", "err", err)
			ok = false
		}
	}
	if ok && full {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], today)
		_ = n.store.Put(localstore.Relays, name, b[:])
	}
}

// fetchKeys fetches, processes and acks the blobs of the mailboxes of keys
// on client c, in requests of at most 1024 keys.
func (n *Node) fetchKeys(ctx context.Context, c *relayclient.Client, keys []ed25519.PrivateKey, owner map[crypto.MailboxID]*friend) error {
	var errs error
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 1024)]
		keys = keys[len(batch):]
		if err := n.fetchBatch(ctx, c, batch, owner); err != nil {
			errs = err
		}
	}
	return errs
}

func (n *Node) fetchBatch(ctx context.Context, c *relayclient.Client, keys []ed25519.PrivateKey, owner map[crypto.MailboxID]*friend) error {
	var after relayclient.BlobID
	for {
		blobs, more, err := c.Fetch(ctx, keys, relayclient.FetchOptions{After: after})
		if err != nil {
			return err
		}
		var acks []relayclient.Ref
		for _, b := range blobs {
			f := owner[b.Mailbox]
			if f == nil {
				continue
			}
			if n.processBlob(ctx, f, b.Data) {
				acks = append(acks, b.Ref())
			}
		}
		if len(acks) > 0 {
			if _, err := c.Ack(ctx, keys, acks); err != nil {
				return err
			}
		}
		if !more || len(blobs) == 0 {
			return nil
		}
		after = blobs[len(blobs)-1].ID
	}
}

// processBlob handles one mailbox blob from friend f's mailbox. It returns
// whether the blob can be acked (deleted at the relay): true once it is
// durably handled or can never be handled (garbage), false if it must wait
// (a chunk whose offer has not arrived yet).
func (n *Node) processBlob(ctx context.Context, f *friend, data []byte) bool {
	op, err := n.openFrom(f, data)
	if err != nil {
		n.log.Debug("dropping a mailbox blob that does not open", "err", err)
		return true
	}
	id := hex.EncodeToString(op.ItemID[:])
	switch op.Type {
	case crypto.TypePrekeys:
		n.noteContact(f, op.Payload)
		return true
	case crypto.TypeMessage, crypto.TypeLike, crypto.TypeProfile, crypto.TypeMeet:
		if err := n.deliverSmall(f, op, ViaMailbox); err != nil {
			return true
		}
		n.sendMailboxReceipt(f, op.ItemID[:], nil)
		return true
	case crypto.TypeReceipt:
		if len(op.Payload) != 64 {
			return true
		}
		it, err := n.getOut(id)
		if err != nil || it.To[f.id] == nil {
			return true
		}
		if ed25519Verify(f.card.SignPub[:], receiptMessage(op.ItemID[:], it.Hash), op.Payload) {
			n.markDelivered(id, f.id, ViaMailbox)
		} else if ed25519Verify(f.card.SignPub[:], rejectMessage(op.ItemID[:]), op.Payload) {
			n.markRejected(id, f.id, it.Type)
		}
		return true
	case crypto.TypeOffer:
		if sr, ok := n.seen(id); ok {
			n.sendMailboxReceipt(f, op.ItemID[:], sr.Hash)
			return true
		}
		m, op2, err := n.openOffer(f, op.ItemID[:], data)
		if err != nil {
			return true
		}
		r, fresh, err := n.newIncoming(f, id, m, op2.Created, false)
		if err != nil {
			return false
		}
		if fresh && r.State == StateOffered {
			n.emit(&Event{Kind: EventItemOffered, FriendID: f.id, ItemID: id, Type: m.Type, Total: m.Size})
		}
		n.maybeFinishMailbox(ctx, r)
		return true
	case crypto.TypeChunk:
		if sr, ok := n.seen(id); ok {
			// Fetched again after delivery: the receipt may not have
			// been queued (a crash in between); queueing it twice is
			// harmless.
			n.sendMailboxReceipt(f, op.ItemID[:], sr.Hash)
			return true
		}
		r, err := n.getIn(id)
		if err != nil {
			return false // the offer comes first; keep the blob until then
		}
		if r.From != f.id || r.State == StateRejected {
			return true
		}
		if err := n.writeChunkBlob(r, op.Payload); err != nil {
			n.log.Debug("dropping a bad chunk blob", "err", err)
			return true
		}
		n.maybeFinishMailbox(ctx, r)
		return true
	}
	return true
}

// writeChunkBlob opens the chunks of one blob (first index(4) ‖ repeated
// length(4) ‖ sealed chunk) into the part file.
func (n *Node) writeChunkBlob(r *inRec, p []byte) error {
	key, err := crypto.ParseStreamKey(r.Meta.Key)
	if err != nil {
		return err
	}
	total := key.ChunkCount(r.Meta.Size)
	if len(p) < 4 {
		return ErrPeer
	}
	i := int64(binary.BigEndian.Uint32(p))
	p = p[4:]
	f, err := os.OpenFile(r.Part, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	var plain []byte
	for len(p) > 0 {
		if len(p) < 4 || i >= total {
			return ErrPeer
		}
		l := int(binary.BigEndian.Uint32(p))
		if l > len(p)-4 {
			return ErrPeer
		}
		c := p[4 : 4+l]
		p = p[4+l:]
		out, last, err := key.OpenChunk(plain[:0], uint32(i), c)
		if err != nil || last != (i == total-1) {
			return ErrPeer
		}
		plain = out
		if _, err := f.WriteAt(out, i*int64(key.ChunkSize)); err != nil {
			return err
		}
		r.set(i)
		i++
	}
	if err := f.Sync(); err != nil {
		return err
	}
	r.Via = ViaMailbox
	return n.mergeIn(r)
}

// maybeFinishMailbox delivers a mailbox item once every chunk is in and the
// user (or auto-accept) accepted it.
func (n *Node) maybeFinishMailbox(ctx context.Context, r *inRec) {
	key, err := crypto.ParseStreamKey(r.Meta.Key)
	if err != nil || r.Count < key.ChunkCount(r.Meta.Size) || r.State != StateReceiving {
		return
	}
	_ = n.finishMailboxItem(r)
}

// finishMailboxItem delivers a complete item received by mailbox and sends
// the receipt back through the sender's mailbox.
func (n *Node) finishMailboxItem(r *inRec) error {
	if err := n.finishIncoming(r, ViaMailbox); err != nil {
		return err
	}
	f, err := n.friend(r.From)
	if err != nil {
		return nil
	}
	idb, _ := hex.DecodeString(r.ID)
	n.sendMailboxReceipt(f, idb, r.Meta.Hash)
	return nil
}

// putBlobs stores blobs, in order, in the friend's mailbox for today at the
// first of the friend's relays (the ones it reads) that takes them all.
func (n *Node) putBlobs(ctx context.Context, f *friend, blobs [][]byte) error {
	return n.putAt(ctx, n.friendRelays(f), f.keys.MailboxID(n.today(), true), blobs)
}

// contactBlob seals this device's prekey and relays for f's mailbox when
// f has not been told the current relay set (nil otherwise), with the tag
// to record once it is posted.
func (n *Node) contactBlob(f *friend) ([]byte, string) {
	if n.toldCurrent(f) {
		return nil, ""
	}
	p, tag := n.contactPayload()
	if p == nil {
		return nil, ""
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	sealed, err := f.sealer.SealPadded(rand.Reader, crypto.Header{Type: crypto.TypePrekeys, ItemID: id, Created: n.cfg.Now().Unix()}, p, sealSize(len(p), true))
	if err != nil {
		return nil, ""
	}
	return sealed, tag
}

// mailboxPutGroup is how many blobs of an item are put on one one-off
// relay connection: 8 (2 MiB). It bounds what an item to an offline friend
// holds in memory, and each group costs one handshake (ephemeral.go).
const mailboxPutGroup = 8

// postToMailbox seals an item for an offline friend into mailbox blobs: an
// offer (or the message itself), then the content's sealed chunks, packed
// into blobs padded to MailboxBlobBucket. The content is the same sealed
// copy every recipient gets; only the offer is per friend.
func (n *Node) postToMailbox(ctx context.Context, it *outItem, f *friend) (err error) {
	to := n.mailboxKeyFor(f)
	// A friend that does not know this node's relays yet (they changed
	// since it was last told) learns them ahead of the item, so its
	// receipt finds the way back.
	var blobs [][]byte
	contact, tag := n.contactBlob(f)
	if contact != nil {
		blobs = append(blobs, contact)
		defer func() {
			if err == nil {
				n.noteTold(f, tag)
			}
		}()
	}
	if it.Sealed == "" {
		sealed, err := n.sealSmall(f, to, it, true)
		if err != nil {
			return err
		}
		return n.putBlobs(ctx, f, append(blobs, sealed))
	}
	key, err := crypto.ParseStreamKey(it.Key)
	if err != nil {
		return err
	}
	idb, _ := parseItemID(it.ID)
	total := key.ChunkCount(it.Size)
	sealedChunk := int64(key.ChunkSize) + crypto.ChunkOverhead
	perBlob := int64(crypto.MaxPayloadIn(MailboxBlobBucket)-4) / (sealedChunk + 4)
	nblobs := int((total + perBlob - 1) / perBlob)
	offer, err := n.sealOffer(f, to, it, nblobs, true)
	if err != nil {
		return err
	}
	if err := n.waitSealedCtx(ctx, it.ID); err != nil {
		return err // a mailbox copy needs the whole pending copy
	}
	src, err := os.Open(it.Sealed)
	if err != nil {
		return err
	}
	defer src.Close()
	sealedSize := it.Size + total*crypto.ChunkOverhead
	blobs = append(blobs, offer)
	sealer, err := crypto.NewSealer(n.id, to)
	if err != nil {
		return err
	}
	// The item streams from the pending copy: one payload buffer, reused,
	// takes each blob's chunks straight from the file, and blobs leave in
	// groups of mailboxPutGroup, so a video of any size holds about
	// mailboxPutGroup sealed blobs (2 MiB) at once
	// (TestMailboxBigItemBoundedHeap).
	payload := make([]byte, 0, 4+perBlob*(sealedChunk+4))
	for first := int64(0); first < total; first += perBlob {
		p := binary.BigEndian.AppendUint32(payload[:0], uint32(first))
		for i := first; i < min(first+perBlob, total); i++ {
			off := i * sealedChunk
			l := min(sealedChunk, sealedSize-off)
			p = binary.BigEndian.AppendUint32(p, uint32(l))
			h := len(p)
			p = p[:h+int(l)]
			if _, err := src.ReadAt(p[h:], off); err != nil {
				return fmt.Errorf("node: mailbox copy: %w", err)
			}
		}
		b, err := sealer.SealPadded(rand.Reader, crypto.Header{Type: crypto.TypeChunk, ItemID: idb, Created: it.Created}, p, MailboxBlobBucket)
		if err != nil {
			return err
		}
		blobs = append(blobs, b)
		if len(blobs) >= mailboxPutGroup {
			if err := n.putBlobs(ctx, f, blobs); err != nil {
				return err
			}
			clear(blobs) // the sent blobs are garbage now
			blobs = blobs[:0]
		}
	}
	if len(blobs) > 0 {
		return n.putBlobs(ctx, f, blobs)
	}
	return nil
}

// closeRelays closes the relay clients (mailbox and rendezvous) and their
// subscriptions, and the day's mailbox host.
func (n *Node) closeRelays() {
	n.mu.Lock()
	rcs := n.rconns
	n.rconns = map[peer.ID]*relayConn{}
	anns := make([]*relayclient.Client, 0, len(rcs))
	for _, rc := range rcs {
		if rc.ann != nil {
			anns = append(anns, rc.ann)
		}
	}
	dh := n.dh
	n.dh = nil
	n.mu.Unlock()
	for _, rc := range rcs {
		rc.c.Close()
	}
	for _, c := range anns {
		c.Close()
	}
	if dh != nil {
		dh.Close()
	}
}

// refreshRelays renews circuit reservations and reconnects lost relays.
func (n *Node) refreshRelays() {
	h, err := n.host()
	if err != nil {
		return
	}
	n.attachRelays(n.ctx, h)
}

var _ = json.Marshal

// allMailboxKeys returns every mailbox key this node can derive for the
// retention window, both directions (for Forget, P8).
func (n *Node) allMailboxKeys() []ed25519.PrivateKey {
	today := n.today()
	retDays := uint32(n.cfg.Retention / (24 * time.Hour))
	fs := n.friendList()
	var keys []ed25519.PrivateKey
	for d := today - retDays; d <= today+1; d++ {
		for _, f := range fs {
			keys = append(keys, f.keys.MailboxKey(d, false), f.keys.MailboxKey(d, true))
		}
	}
	return keys
}
