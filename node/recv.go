package node

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/localstore"
	proto "github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

const (
	// OfferWait is how long an offer stream waits for the user's decision
	// before telling the sender to come back later: 30 s.
	OfferWait = 30 * time.Second
	// persistEvery is how many chunks pass between resume-point writes
	// while a stream is healthy: 256 (16 MiB). It bounds what a crash
	// costs; a broken stream writes its exact resume point when it ends.
	persistEvery = 256
)

// inRec is an offer or transfer in progress on the recipient's side.
type inRec struct {
	ID      string
	From    string
	Meta    offerMeta
	State   string // offered, receiving (accepted), rejected
	Have    []byte // bitset of chunks written to Part
	Count   int64  // chunks in Have
	Part    string
	Created int64
	// Via is the path of the stream or mailbox writing the chunks
	// (Event.Via), kept so a delivery finished at Start (recoverPlaced)
	// names it too.
	Via string `json:",omitempty"`

	// unsaved: an auto-accepted offer on a live stream whose record is
	// not stored yet; the transfer's flusher stores it while the first
	// chunks arrive (mergeIn), so it is stored before the receipt, which
	// comes before the delivery's commit (recvChunks). A crash before it
	// loses nothing the sender cannot send again; its part file is swept
	// at the next Start.
	unsaved bool
}

func (r *inRec) has(i int64) bool { return r.Have[i/8]&(1<<(i%8)) != 0 }
func (r *inRec) set(i int64) {
	if !r.has(i) {
		r.Have[i/8] |= 1 << (i % 8)
		r.Count++
	}
}

// next returns the first chunk index not yet written.
func (r *inRec) next(total int64) int64 {
	for i := int64(0); i < total; i++ {
		if !r.has(i) {
			return i
		}
	}
	return total
}

func (n *Node) getIn(id string) (*inRec, error) {
	b, err := n.store.Get(localstore.Incoming, id)
	if err != nil {
		return nil, err
	}
	var r inRec
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (n *Node) putIn(r *inRec) error {
	b, _ := json.Marshal(r)
	return n.store.Put(localstore.Incoming, r.ID, b)
}

// mergeIn persists the chunks r has written, merged (OR) with what the
// store holds, keeping the stored state (a decision made meanwhile wins).
// It updates r to the merged record. Several writers (a stream, a mailbox
// catch-up, Accept/Reject) may touch one item at once.
func (n *Node) mergeIn(r *inRec) error {
	err := n.store.Update(func(tx *localstore.Tx) error {
		b, err := tx.Get(localstore.Incoming, r.ID)
		if err != nil && r.unsaved && !tx.Has(localstore.Seen, r.ID) {
			nb, _ := json.Marshal(r)
			return tx.Put(localstore.Incoming, r.ID, nb)
		}
		if err != nil {
			return err // delivered or rejected and removed meanwhile
		}
		var cur inRec
		if err := json.Unmarshal(b, &cur); err != nil || len(cur.Have) != len(r.Have) {
			return fmt.Errorf("node: incoming record: %w", ErrPeer)
		}
		cur.Count = 0
		for i := range cur.Have {
			cur.Have[i] |= r.Have[i]
			for x := cur.Have[i]; x != 0; x &= x - 1 {
				cur.Count++
			}
		}
		if r.Via != "" {
			cur.Via = r.Via
		}
		*r = cur
		nb, _ := json.Marshal(&cur)
		return tx.Put(localstore.Incoming, cur.ID, nb)
	})
	if err == nil {
		r.unsaved = false
	}
	return err
}

// seenRec marks an item delivered to the app (exactly once), and keeps the
// content hash to sign a receipt again if the sender asks twice.
type seenRec struct {
	Hash []byte `json:",omitempty"`
}

func (n *Node) seen(id string) (*seenRec, bool) {
	b, err := n.store.Get(localstore.Seen, id)
	if err != nil {
		return nil, false
	}
	var s seenRec
	_ = json.Unmarshal(b, &s)
	return &s, true
}

func (n *Node) receipt(idb, hash []byte) *pb.PeerFrame {
	return &pb.PeerFrame{Body: &pb.PeerFrame_Receipt{Receipt: &pb.Receipt{ItemId: idb, Sig: n.id.Sign(receiptMessage(idb, hash))}}}
}

// openFrom opens an envelope that must come from friend f.
func (n *Node) openFrom(f *friend, sealed []byte) (*crypto.Opened, error) {
	op, err := n.openAny(sealed)
	if err != nil {
		return nil, fmt.Errorf("node: open: %w", ErrPeer)
	}
	if op.SenderBox != f.card.BoxPub {
		return nil, fmt.Errorf("node: envelope from someone else: %w", ErrPeer)
	}
	now := n.cfg.Now()
	if op.Created > now.Add(time.Hour).Unix() || op.Created < now.Add(-n.cfg.Retention-24*time.Hour).Unix() {
		return nil, fmt.Errorf("node: envelope outside the replay window: %w", ErrPeer)
	}
	n.confirmFriend(f)
	return op, nil
}

// recvEnvelope handles a message or like sent directly.
func (s *session) recvEnvelope(sealed []byte) error {
	op, err := s.n.openFrom(s.f, sealed)
	if err != nil {
		return err
	}
	if op.Type == crypto.TypePrekeys {
		s.n.noteContact(s.f, op.Payload)
	} else if err := s.n.deliverSmall(s.f, op, s.via()); err != nil {
		return err
	}
	return s.write(s.n.receipt(op.ItemID[:], nil))
}

// deliverSmall stores and announces a message or like once.
func (n *Node) deliverSmall(f *friend, op *crypto.Opened, via string) error {
	if op.Type != crypto.TypeMessage && op.Type != crypto.TypeLike && op.Type != crypto.TypeProfile && op.Type != crypto.TypeMeet {
		return &proto.Error{Code: pb.ErrorCode_BAD_REQUEST, Detail: "unexpected envelope type"}
	}
	var si smallItem
	if err := json.Unmarshal(op.Payload, &si); err != nil || len(si.Text) > MaxMessageLen {
		return &proto.Error{Code: pb.ErrorCode_BAD_REQUEST, Detail: "bad small item"}
	}
	if op.Type == crypto.TypeProfile {
		return n.receiveProfile(f, op, si.Text)
	}
	if op.Type == crypto.TypeMeet {
		return n.receiveMeet(f, op, si.Text)
	}
	id := hex.EncodeToString(op.ItemID[:])
	item := Item{ID: id, FriendID: f.id, State: StateReceived, Created: op.Created}
	ev := &Event{FriendID: f.id, ItemID: id, Via: via}
	if op.Type == crypto.TypeLike {
		if _, err := parseItemID(si.Ref); err != nil {
			return &proto.Error{Code: pb.ErrorCode_BAD_REQUEST, Detail: "bad like"}
		}
		item.Type, item.Text = TypeLike, si.Ref
		ev.Kind, ev.Type, ev.Text = EventLike, TypeLike, si.Ref
	} else {
		item.Type, item.Text = TypeMessage, si.Text
		ev.Kind, ev.Type, ev.Text = EventMessage, TypeMessage, si.Text
	}
	fresh, err := n.recordDelivery(item, nil)
	if err != nil {
		return err
	}
	if fresh {
		n.emit(ev)
	}
	return nil
}

// recordDelivery stores an inbox item and its seen mark in one
// transaction; it reports false if the item was already delivered.
func (n *Node) recordDelivery(item Item, hash []byte) (bool, error) {
	fresh := false
	err := n.store.Update(func(tx *localstore.Tx) error {
		if tx.Has(localstore.Seen, item.ID) {
			return nil
		}
		fresh = true
		sb, _ := json.Marshal(seenRec{Hash: hash})
		if err := tx.Put(localstore.Seen, item.ID, sb); err != nil {
			return err
		}
		ib, _ := json.Marshal(item)
		if err := tx.Put(localstore.Inbox, item.ID, ib); err != nil {
			return err
		}
		return tx.Delete(localstore.Incoming, item.ID)
	})
	return fresh, err
}

// openOffer opens and checks a sealed offer from f.
func (n *Node) openOffer(f *friend, itemID []byte, sealed []byte) (*offerMeta, *crypto.Opened, error) {
	op, err := n.openFrom(f, sealed)
	if err != nil {
		return nil, nil, err
	}
	if op.Type != crypto.TypeOffer || string(op.ItemID[:]) != string(itemID) {
		return nil, nil, fmt.Errorf("node: offer header: %w", ErrPeer)
	}
	var m offerMeta
	if err := json.Unmarshal(op.Payload, &m); err != nil {
		return nil, nil, fmt.Errorf("node: offer body: %w", ErrPeer)
	}
	key, err := crypto.ParseStreamKey(m.Key)
	if err != nil || (m.Type != TypePhoto && m.Type != TypeVideo) || m.Size < 0 || m.Size > MaxItemSize ||
		len(m.Hash) != 32 || key.ChunkCount(m.Size) > crypto.MaxChunks {
		return nil, nil, fmt.Errorf("node: offer fields: %w", ErrPeer)
	}
	if !takenValid(m.Taken, n.cfg.Now()) {
		m.Taken = 0 // a capture time the sender's clock made up: unknown
	}
	return &m, op, nil
}

// newIncoming makes (or returns the stored) incoming record for an offer.
// With live set (the offer came on a stream that carries the chunks next)
// an auto-accepted record is not stored yet (inRec.unsaved).
func (n *Node) newIncoming(f *friend, id string, m *offerMeta, created int64, live bool) (*inRec, bool, error) {
	if r, err := n.getIn(id); err == nil {
		return r, false, nil
	}
	key, _ := crypto.ParseStreamKey(m.Key)
	total := key.ChunkCount(m.Size)
	r := &inRec{ID: id, From: f.id, Meta: *m, State: StateOffered, Have: make([]byte, (total+7)/8),
		Part: filepath.Join(n.media, id+".part"), Created: created}
	n.mu.Lock()
	auto := f.saved.AutoAccept
	n.mu.Unlock()
	if auto {
		r.State = StateReceiving
		if live {
			r.unsaved = true
			return r, true, nil
		}
	}
	if err := n.putIn(r); err != nil {
		return nil, false, err
	}
	return r, true, nil
}

// recvOffer handles an Offer on an inbound stream: policy, then chunks.
func (s *session) recvOffer(o *pb.Offer) error {
	n := s.n
	id := hex.EncodeToString(o.ItemId)
	if sr, ok := n.seen(id); ok {
		return s.write(n.receipt(o.ItemId, sr.Hash))
	}
	if !n.claimRecv(id) {
		return errBusy
	}
	defer n.releaseRecv(id)
	m, op, err := n.openOffer(s.f, o.ItemId, o.Sealed)
	if err != nil {
		return err
	}
	r, fresh, err := n.newIncoming(s.f, id, m, op.Created, true)
	if err != nil {
		return err
	}
	if r.From != s.f.id {
		return fmt.Errorf("node: item of another friend: %w", ErrPeer)
	}
	if fresh && r.State == StateOffered {
		n.emit(&Event{Kind: EventItemOffered, FriendID: s.f.id, ItemID: id, Type: m.Type, Total: m.Size})
	}
	if r.State == StateOffered {
		accept, ok := n.awaitDecision(id)
		if !ok {
			return &proto.Error{Code: pb.ErrorCode_UNAVAILABLE, Detail: "decision pending"}
		}
		if accept {
			// Reply at once: decide stores the decision meanwhile, and
			// the first byte follows one round trip after Accept.
			r.State = StateReceiving
		} else if r, err = n.getIn(id); err != nil {
			return err
		}
	}
	if r.State == StateRejected {
		return s.write(&pb.PeerFrame{Body: &pb.PeerFrame_OfferReply{OfferReply: &pb.OfferReply{ItemId: o.ItemId, Accept: false}}})
	}
	key, _ := crypto.ParseStreamKey(r.Meta.Key)
	from := r.next(key.ChunkCount(r.Meta.Size))
	if err := s.write(&pb.PeerFrame{Body: &pb.PeerFrame_OfferReply{OfferReply: &pb.OfferReply{ItemId: o.ItemId, Accept: true, FromChunk: uint32(from)}}}); err != nil {
		return err
	}
	return s.recvChunks(r)
}

// awaitDecision waits up to OfferWait for Accept or Reject of id.
func (n *Node) awaitDecision(id string) (accept, ok bool) {
	ch := make(chan bool, 1)
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return false, false
	}
	n.decisions[id] = ch
	n.mu.Unlock()
	defer func() {
		n.mu.Lock()
		if n.decisions[id] == ch {
			delete(n.decisions, id)
		}
		n.mu.Unlock()
	}()
	// A decision made between item_offered and the line above found no
	// stream waiting and was only stored (its pull cannot run while this
	// stream holds the item): take it from the store.
	if r, err := n.getIn(id); err == nil && r.State != StateOffered {
		return r.State == StateReceiving, true
	}
	t := time.NewTimer(n.offerWait)
	defer t.Stop()
	select {
	case a, open := <-ch:
		return a, open
	case <-t.C:
		return false, false
	case <-n.ctx.Done():
		return false, false
	}
}

// recvChunks receives chunks into the part file until the item is whole,
// persisting the resume point, then delivers it and sends the receipt.
// Reading frames and opening/writing chunks run in two stages (this
// goroutine reads; a worker opens and writes) so network, crypto and disk
// overlap; at most chunkPipeline chunks are in between.
func (s *session) recvChunks(r *inRec) error {
	n := s.n
	key, err := crypto.ParseStreamKey(r.Meta.Key)
	if err != nil {
		return err
	}
	total := key.ChunkCount(r.Meta.Size)
	idb, _ := hex.DecodeString(r.ID)
	r.Via = s.via()
	f, err := os.OpenFile(r.Part, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("node: part file: %w", err)
	}
	defer f.Close()

	type job struct {
		i    int64
		data []byte
		buf  *[]byte // the pooled frame buffer data lies in
	}
	jobs := make(chan job, chunkPipeline)
	werr := make(chan error, 1)
	go func() {
		// The worker owns r until it returns, and each job's buffer
		// until it puts it back.
		w := newPartWriter(n, r, f, key)
		var err error
		for j := range jobs {
			if err == nil {
				err = w.chunk(j.i, j.data)
			} // else drain
			frameBufs.Put(j.buf)
		}
		werr <- w.finish(err)
	}()
	// next is the reader's count of chunks handed over; the worker's r is
	// not read here.
	_, hook := n.hooks()
	have := r.Count
	seen := make([]byte, len(r.Have))
	copy(seen, r.Have)
	var m pb.PeerFrame
	var c proto.ChunkView
	var rerr error
	for have < total {
		// Each frame is read into its own pooled buffer and a chunk is
		// decoded in place (no protobuf copy of its data); the worker
		// opens it from there and puts the buffer back.
		bp := frameBufs.Get().(*[]byte)
		isChunk, err := s.readInto(&m, &c, *bp)
		if err == nil && (!isChunk || string(c.ItemID) != string(idb) || int64(c.Index) >= total) {
			err = fmt.Errorf("node: unexpected frame in transfer: %w", ErrPeer)
		}
		if err != nil {
			frameBufs.Put(bp)
			rerr = err
			break
		}
		i := int64(c.Index)
		if hook != nil {
			hook(r.ID, i)
		}
		if seen[i/8]&(1<<(i%8)) == 0 {
			seen[i/8] |= 1 << (i % 8)
			have++
		}
		jobs <- job{i: i, data: c.Data, buf: bp}
		m.Body, c = nil, proto.ChunkView{} // the worker owns the data now
	}
	close(jobs)
	if err := <-werr; err != nil {
		return err
	}
	if rerr != nil {
		return rerr
	}
	// The rename of the synced part file is the commit point: from here
	// the item survives a crash (recoverPlaced finishes its delivery at
	// the next Start from the stored record, which the flusher wrote
	// before finish returned), so the receipt goes out before the
	// delivery record's commit and the friend does not wait for it.
	path, err := n.placeIncoming(r)
	if err != nil {
		return err
	}
	if n.placedHook != nil && n.placedHook(r.ID) != nil {
		return errors.New("node: test: stopped after the rename")
	}
	sendErr := s.write(n.receipt(idb, r.Meta.Hash))
	if err := n.deliverIncoming(r, path, r.Via); err != nil {
		return err
	}
	return sendErr
}

// chunkPipeline is how many received chunks may wait for opening: 8
// (512 KiB).
const chunkPipeline = 8

// frameBufs are the receive buffers of chunk frames (MaxShareFrame each):
// a transfer holds at most chunkPipeline+2 of them at once.
var frameBufs = sync.Pool{New: func() any { b := make([]byte, proto.MaxShareFrame); return &b }}

// finishIncoming moves a complete part file into place and delivers the
// item to the app once; via is its path (Event.Via).
func (n *Node) finishIncoming(r *inRec, via string) error {
	path, err := n.placeIncoming(r)
	if err != nil {
		return err
	}
	return n.deliverIncoming(r, path, via)
}

// finalPath is where a received item's file lives once whole.
func (n *Node) finalPath(r *inRec) string {
	return filepath.Join(n.media, r.ID+safeExt(r.Meta.Name))
}

// placeIncoming moves a complete, synced part file to its final name,
// durably: the receipt promises a durable file under that name, and a
// stored record whose part file is gone and whose final file exists is
// a finished transfer (recoverPlaced).
func (n *Node) placeIncoming(r *inRec) (string, error) {
	path := n.finalPath(r)
	if err := os.Rename(r.Part, path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("node: deliver: %w", err)
	}
	if r.Meta.Size == 0 {
		_ = os.WriteFile(path, nil, 0o600)
	}
	if err := n.syncDir(n.media); err != nil {
		return "", fmt.Errorf("node: deliver: %w", err)
	}
	return path, nil
}

// deliverIncoming records a placed item and tells the app, once.
func (n *Node) deliverIncoming(r *inRec, path, via string) error {
	item := Item{ID: r.ID, FriendID: r.From, Type: r.Meta.Type, Path: path, Size: r.Meta.Size, Done: r.Meta.Size, State: StateReceived, Created: r.Created, Taken: r.Meta.Taken}
	fresh, err := n.recordDelivery(item, r.Meta.Hash)
	if err != nil {
		return err
	}
	if fresh {
		n.emit(&Event{Kind: EventItemReceived, FriendID: r.From, ItemID: r.ID, Type: r.Meta.Type, Path: path, Done: r.Meta.Size, Total: r.Meta.Size, Via: via})
	}
	return nil
}

// Accept accepts an offered item; the transfer starts (or resumes) now if
// the sender is connected, else when it retries.
func (n *Node) Accept(itemID string) error { return n.decide(itemID, true) }

// Reject declines an offered item. The sender learns it at once if it waits
// on a stream, else through its mailbox (or on its next direct try), and
// gets EventDeliveryFailed with Err FailRejected.
func (n *Node) Reject(itemID string) error { return n.decide(itemID, false) }

func (n *Node) decide(itemID string, accept bool) error {
	streaming := false
	if accept {
		// An offer stream waiting for this decision replies before the
		// commit below (recvOffer); the record says offered until then,
		// which a crash in between leaves as it was.
		n.mu.Lock()
		ch := n.decisions[itemID]
		delete(n.decisions, itemID)
		n.mu.Unlock()
		if ch != nil {
			ch <- true
			streaming = true
		}
	}
	var r inRec
	changed := false
	err := n.store.Update(func(tx *localstore.Tx) error {
		b, err := tx.Get(localstore.Incoming, itemID)
		if err != nil {
			return ErrUnknownItem
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		if r.State != StateOffered {
			return nil
		}
		changed = true
		if accept {
			r.State = StateReceiving
		} else {
			r.State = StateRejected
		}
		nb, _ := json.Marshal(&r)
		return tx.Put(localstore.Incoming, itemID, nb)
	})
	if err != nil || !changed || streaming {
		return err
	}
	if !accept {
		os.Remove(r.Part)
	}
	n.mu.Lock()
	ch := n.decisions[itemID]
	delete(n.decisions, itemID)
	n.mu.Unlock()
	if ch != nil {
		ch <- accept
		return nil
	}
	if !accept {
		// Nobody waits on a stream (the offer came by mailbox, or the
		// sender gave up waiting): tell the sender through its mailbox.
		if f, err := n.friend(r.From); err == nil && n.hasRelays() {
			idb, _ := hex.DecodeString(r.ID)
			n.sendMailboxReject(f, idb) // stored, then posted by the loop
		}
		return nil
	}
	if accept {
		key, _ := crypto.ParseStreamKey(r.Meta.Key)
		if r.Count == key.ChunkCount(r.Meta.Size) {
			// Everything already arrived by mailbox.
			return n.finishMailboxItem(&r)
		}
		n.spawn(func(ctx context.Context) { n.pull(ctx, r.ID) })
	}
	return nil
}

// pull asks the sender for the rest of an accepted item (Resume).
func (n *Node) pull(ctx context.Context, id string) {
	if !n.claimRecv(id) {
		return // a stream is receiving it
	}
	defer n.releaseRecv(id)
	r, err := n.getIn(id)
	if err != nil || r.State != StateReceiving {
		return
	}
	f, err := n.friend(r.From)
	if err != nil {
		return
	}
	s, err := n.dialSession(ctx, f)
	if err != nil {
		n.log.Debug("pull: sender unreachable; it will retry", "err", err)
		return
	}
	key, _ := crypto.ParseStreamKey(r.Meta.Key)
	idb, _ := hex.DecodeString(id)
	from := r.next(key.ChunkCount(r.Meta.Size))
	if err := s.write(&pb.PeerFrame{Body: &pb.PeerFrame_Resume{Resume: &pb.Resume{ItemId: idb, FromChunk: uint32(from)}}}); err != nil {
		s.s.Reset()
		return
	}
	if err := s.recvChunks(r); err != nil {
		n.log.Debug("pull interrupted", "err", err)
		s.s.Reset()
		return
	}
	s.close()
}

// Inbox returns received items and offers waiting for a decision.
func (n *Node) Inbox() []Item {
	var out []Item
	_ = n.store.ForEach(localstore.Inbox, func(v []byte) error {
		var it Item
		if json.Unmarshal(v, &it) == nil {
			out = append(out, it)
		}
		return nil
	})
	_ = n.store.ForEach(localstore.Incoming, func(v []byte) error {
		var r inRec
		if json.Unmarshal(v, &r) == nil {
			key, err := crypto.ParseStreamKey(r.Meta.Key)
			done := int64(0)
			if err == nil {
				done = min(r.Count*int64(key.ChunkSize), r.Meta.Size)
			}
			out = append(out, Item{ID: r.ID, FriendID: r.From, Type: r.Meta.Type, Size: r.Meta.Size, Done: done, State: r.State, Created: r.Created, Taken: r.Meta.Taken})
		}
		return nil
	})
	return out
}

// syncPart makes a part file (or a pending sealed copy) durable before the
// record that names it is stored, unless Config.NoSync (simulations) says
// not to.
func (n *Node) syncPart(f *os.File) error {
	if n.cfg.NoSync {
		return nil
	}
	return syncData(f)
}
