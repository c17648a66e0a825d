package node

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/imigee/imigee/crypto"
	proto "github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// Outcomes of one delivery attempt.
var (
	errPendingDecision = errors.New("node: recipient has not decided yet")
	errRejected        = errors.New("node: recipient rejected the item")
)

const (
	receiptDomain = "imigee/receipt/v1"
	rejectDomain  = "imigee/reject/v1"
)

// rejectMessage is what a recipient signs to decline item itemID when the
// sender is not waiting on a stream: it travels as a TypeReceipt envelope
// through the sender's mailbox, told apart from a receipt by this domain.
func rejectMessage(itemID []byte) []byte {
	return append([]byte(rejectDomain), itemID...)
}

// receiptMessage is what a recipient signs: it has item itemID, whose
// content hash is hash (empty for messages and likes).
func receiptMessage(itemID []byte, hash []byte) []byte {
	m := append([]byte(receiptDomain), itemID...)
	return append(m, hash...)
}

func contentType(typ string) crypto.ContentType {
	switch typ {
	case TypePhoto:
		return crypto.TypePhoto
	case TypeVideo:
		return crypto.TypeVideo
	case TypeLike:
		return crypto.TypeLike
	case TypeProfile:
		return crypto.TypeProfile
	case TypeMeet:
		return crypto.TypeMeet
	default:
		return crypto.TypeMessage
	}
}

// sealSmall seals a message or like for f;
// mailbox pads it to a blob size class (sizes.go).
func (n *Node) sealSmall(f *friend, to [32]byte, it *outItem, mailbox bool) ([]byte, error) {
	id, err := parseItemID(it.ID)
	if err != nil {
		return nil, err
	}
	si := smallItem{Type: it.Type}
	if it.Type == TypeLike {
		si.Ref = it.Text
	} else {
		si.Text = it.Text
	}
	pl, _ := json.Marshal(si)
	s := f.sealer
	if to != f.card.BoxPub {
		if s, err = crypto.NewSealer(n.id, to); err != nil {
			return nil, err
		}
	}
	return s.SealPadded(rand.Reader, crypto.Header{Type: contentType(it.Type), ItemID: id, Created: it.Created}, pl, sealSize(len(pl), mailbox))
}

// sealOffer seals the offer of a file item for f (to its box key, or a
// prekey for mailbox delivery, padded to a blob size class).
func (n *Node) sealOffer(f *friend, to [32]byte, it *outItem, blobs int, mailbox bool) ([]byte, error) {
	id, err := parseItemID(it.ID)
	if err != nil {
		return nil, err
	}
	pl, _ := json.Marshal(offerMeta{Type: it.Type, Name: it.Name, Size: it.Size, Hash: it.Hash, Key: it.Key, Blobs: blobs, Taken: it.Taken})
	s := f.sealer
	if to != f.card.BoxPub {
		if s, err = crypto.NewSealer(n.id, to); err != nil {
			return nil, err
		}
	}
	return s.SealPadded(rand.Reader, crypto.Header{Type: crypto.TypeOffer, ItemID: id, Created: it.Created}, pl, sealSize(len(pl), mailbox))
}

// sendItem delivers one outbox item over an established session (the
// initiator side). It returns nil when a valid receipt came back.
func (s *session) sendItem(ctx context.Context, it *outItem) error {
	n := s.n
	idb, _ := hex.DecodeString(it.ID)
	if it.Sealed == "" {
		sealed, err := n.sealSmall(s.f, s.f.card.BoxPub, it, false)
		if err != nil {
			return err
		}
		if err := s.write(&pb.PeerFrame{Body: &pb.PeerFrame_Envelope{Envelope: &pb.Envelope{Sealed: sealed}}}); err != nil {
			return err
		}
		return s.awaitReceipt(idb, nil)
	}
	sealed, err := n.sealOffer(s.f, s.f.card.BoxPub, it, 0, false)
	if err != nil {
		return err
	}
	if err := s.write(&pb.PeerFrame{Body: &pb.PeerFrame_Offer{Offer: &pb.Offer{ItemId: idb, Sealed: sealed}}}); err != nil {
		return err
	}
	var m pb.PeerFrame
	if err := s.read(&m); err != nil {
		if errors.Is(err, proto.ErrUnavailable) {
			return errPendingDecision
		}
		if errors.Is(err, proto.ErrRejected) {
			return errRejected
		}
		return err
	}
	switch b := m.Body.(type) {
	case *pb.PeerFrame_Receipt:
		return s.checkReceipt(b.Receipt, idb, it.Hash)
	case *pb.PeerFrame_OfferReply:
		if string(b.OfferReply.ItemId) != string(idb) {
			return fmt.Errorf("node: offer reply for another item: %w", ErrPeer)
		}
		if !b.OfferReply.Accept {
			return errRejected
		}
		if err := s.sendChunks(ctx, it, b.OfferReply.FromChunk); err != nil {
			return err
		}
		return s.awaitReceipt(idb, it.Hash)
	default:
		return fmt.Errorf("node: unexpected frame after offer: %w", ErrPeer)
	}
}

func (s *session) awaitReceipt(itemID, hash []byte) error {
	var m pb.PeerFrame
	if err := s.read(&m); err != nil {
		return err
	}
	r := m.GetReceipt()
	if r == nil {
		return fmt.Errorf("node: expected a receipt: %w", ErrPeer)
	}
	return s.checkReceipt(r, itemID, hash)
}

func (s *session) checkReceipt(r *pb.Receipt, itemID, hash []byte) error {
	if string(r.ItemId) != string(itemID) || !ed25519Verify(s.f.card.SignPub[:], receiptMessage(itemID, hash), r.Sig) {
		return fmt.Errorf("node: bad receipt: %w", ErrPeer)
	}
	return nil
}

// sendChunks streams sealed chunks from index from to the end, reading the
// pending sealed copy; memory use is one chunk.
func (s *session) sendChunks(ctx context.Context, it *outItem, from uint32) error {
	key, err := crypto.ParseStreamKey(it.Key)
	if err != nil {
		return err
	}
	total := key.ChunkCount(it.Size)
	if int64(from) > total {
		return fmt.Errorf("node: resume point beyond the item: %w", ErrPeer)
	}
	f, err := os.Open(it.Sealed)
	if err != nil {
		return fmt.Errorf("node: pending copy: %w", err)
	}
	defer f.Close()
	idb, _ := hex.DecodeString(it.ID)
	sealedChunk := int64(key.ChunkSize) + crypto.ChunkOverhead
	sealedSize := it.Size + total*crypto.ChunkOverhead
	// Each batch of up to sendBatch frames is built in one buffer — the
	// header written by hand, the sealed chunk read from the pending copy
	// straight behind it — and leaves in one stream write: a QUIC stream
	// write per 64 KiB chunk costs a hand-off to the connection's
	// goroutine each, and marshalling a chunk through protobuf and a
	// bufio.Writer copied it twice.
	bufSize := int(sendBatch * (sealedChunk + proto.ChunkFrameHeaderMax))
	prog := progress{last: int64(from) * int64(key.ChunkSize)}
	job := s.n.sealJobOf(it.ID) // nil once the pending copy is whole
	// fill appends the frames of up to cnt chunks from i to frame and
	// says how many it took (fewer while sealing is behind).
	fill := func(ctx context.Context, frame []byte, i, cnt int64) ([]byte, int64, error) {
		if job != nil {
			// Stream chunks as they are sealed.
			if err := job.waitChunk(ctx, i); err != nil {
				return frame, 0, fmt.Errorf("node: sealing: %w", err)
			}
			if have := job.sealed(); have < total {
				cnt = max(min(cnt, have-i), 1)
			}
		}
		for k := i; k < i+cnt; k++ {
			off := k * sealedChunk
			l := min(sealedChunk, sealedSize-off)
			frame = proto.AppendChunkFrameHeader(frame, idb, uint32(k), int(l))
			h := len(frame)
			frame = frame[:h+int(l)]
			if _, err := f.ReadAt(frame[h:], off); err != nil {
				return frame, 0, fmt.Errorf("node: pending copy: %w", err)
			}
			done := min((k+1)*int64(key.ChunkSize), it.Size)
			if prog.step(done, k == total-1) {
				s.n.emit(&Event{Kind: EventProgress, FriendID: s.f.id, ItemID: it.ID, Type: it.Type, Done: done, Total: it.Size})
			}
		}
		return frame, cnt, nil
	}
	write := func(frame []byte) error {
		if len(frame) == 0 {
			return nil
		}
		s.renewWrite()
		if _, err := s.s.Write(frame); err != nil {
			return fmt.Errorf("node: send chunks: %w", err)
		}
		return nil
	}
	if hook := s.n.sendHook; hook != nil {
		// Tests: one chunk per write, the hook called when the chunks
		// before it are on the wire.
		bp := getSendBuf(bufSize)
		defer sendBufs.Put(bp)
		for i := int64(from); i < total; i++ {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := hook(it.ID, uint32(i)); err != nil {
				return err
			}
			frame, _, err := fill(ctx, (*bp)[:0], i, 1)
			if err == nil {
				err = write(frame)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
	return sendPipelined(ctx, int64(from), total, bufSize, fill, write)
}

// sendPipelined sends chunks from..total in batches of up to sendBatch
// (the first alone, at once), reading the next batch while the stream
// writes the current one: a QUIC stream write returns only when its data
// is packed, so reading in between left the connection idle for the
// reads (about 100-200 µs per MiB). It owns its reader goroutine, which
// ends before it returns, and two pooled buffers.
func sendPipelined(ctx context.Context, from, total int64, bufSize int,
	fill func(context.Context, []byte, int64, int64) ([]byte, int64, error), write func([]byte) error) error {
	type batch struct {
		buf   *[]byte
		frame []byte
		err   error
	}
	ctx, cancel := context.WithCancel(ctx)
	free := make(chan *[]byte, 2)
	free <- getSendBuf(bufSize)
	free <- getSendBuf(bufSize)
	ready := make(chan batch, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(ready)
		for i := from; i < total; {
			var bp *[]byte
			select {
			case bp = <-free:
			case <-ctx.Done():
				return
			}
			cnt := min(sendBatch, total-i)
			if i == from {
				cnt = 1 // the first chunk leaves alone, at once
			}
			frame, took, err := fill(ctx, (*bp)[:0], i, cnt)
			if err == nil {
				err = ctx.Err()
			}
			ready <- batch{buf: bp, frame: frame, err: err} // one slot; the writer takes until ready closes
			if err != nil {
				return
			}
			i += took
		}
	}()
	var err error
	for b := range ready {
		if err == nil {
			err = b.err
		}
		if err == nil {
			err = write(b.frame)
		}
		if err != nil {
			cancel() // the reader stops at its next step; keep draining
		}
		free <- b.buf
	}
	cancel()
	wg.Wait()
	close(free)
	for bp := range free {
		sendBufs.Put(bp)
	}
	return err
}

// sendBatch is how many chunks are read and written at once: 16 (1 MiB).
const sendBatch = 16

// sendBufs are the frame buffers of sending transfers, pooled: a transfer
// that allocated 1 MiB each time spent milliseconds before its first
// byte.
var sendBufs sync.Pool

func getSendBuf(size int) *[]byte {
	if b, ok := sendBufs.Get().(*[]byte); ok && cap(*b) >= size {
		return b
	}
	b := make([]byte, 0, size)
	return &b
}

// serveResume answers a recipient that accepted later and pulls the item
// (the sender is the responder here).
func (s *session) serveResume(r *pb.Resume) error {
	id := hex.EncodeToString(r.ItemId)
	it, err := s.n.getOut(id)
	if err != nil || it.To[s.f.id] == nil || it.Sealed == "" {
		return &proto.Error{Code: pb.ErrorCode_NOT_FOUND, Detail: "no such item"}
	}
	if it.Sealing && it.Hash == nil {
		return &proto.Error{Code: pb.ErrorCode_UNAVAILABLE, Detail: "not ready"}
	}
	ctx := s.n.itemContext(it.ID)
	stop := context.AfterFunc(ctx, func() { s.s.Reset() })
	defer stop()
	if err := s.sendChunks(ctx, it, r.FromChunk); err != nil {
		return err
	}
	if err := s.awaitReceipt(r.ItemId, it.Hash); err != nil {
		return err
	}
	stop() // delivered: ending the item must not reset this stream
	s.n.markDelivered(it.ID, s.f.id, s.via())
	return nil
}

// markDelivered records a receipt, tells the app and then drops the pending
// copy if nobody else waits for it; via is the path the
// item took (Event.Via).
func (n *Node) markDelivered(itemID, friendID, via string) {
	changed, internal := false, false
	var typ string
	var created int64
	_ = n.updateRecipThen(itemID, friendID, func(it *outItem, r *recip) {
		internal = internalType(it.Type)
		typ, created = it.Type, it.Created
		if r.State != rDelivered {
			changed = true
			r.State = rDelivered
		}
	}, func() {
		if changed && !internal {
			n.countDelivered(typ, via, created)
			n.emit(&Event{Kind: EventDelivered, FriendID: friendID, ItemID: itemID, Via: via})
		}
	})
}

// sendPrekey hands the friend this device's current signed prekey (for
// sealing offline items with forward secrecy) and its relay addresses
// (where to post to it) on a confirmed session.
func (s *session) sendPrekey() {
	pk, tag := s.n.contactPayload()
	if pk == nil {
		return
	}
	var id [16]byte
	_, _ = rand.Read(id[:])
	sealed, err := s.f.sealer.Seal(rand.Reader, crypto.Header{Type: crypto.TypePrekeys, ItemID: id, Created: s.n.cfg.Now().Unix()}, pk)
	if err != nil {
		return
	}
	if s.write(&pb.PeerFrame{Body: &pb.PeerFrame_Envelope{Envelope: &pb.Envelope{Sealed: sealed}}}) == nil && s.awaitReceipt(id[:], nil) == nil {
		s.n.noteTold(s.f, tag)
	}
}
