package relayclient

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// Put stores blob in mailbox mbox at the relay and returns its ID once the
// relay has made it durable. Anyone may put; the relay does not learn who.
func (c *Client) Put(ctx context.Context, mbox crypto.MailboxID, blob []byte) (BlobID, error) {
	resp, err := c.do(ctx, &pb.MailboxRequest{Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: mbox[:], Blob: blob}}})
	if err != nil {
		return BlobID{}, err
	}
	p := resp.GetPut()
	if p == nil {
		return BlobID{}, ErrBadResponse
	}
	return BlobID(p.BlobId), nil
}

// FetchOptions shape one Fetch page.
type FetchOptions struct {
	After    BlobID // list after this blob (zero: from the start)
	MaxBlobs int    // 0: the relay's default (at most 1024)
	MaxBytes int    // 0: the relay's default (at most 4 MiB of data)
	IDsOnly  bool   // list without data
}

// dedupeKeys drops keys that name the same mailbox twice (the relay
// rejects duplicate auths).
func dedupeKeys(keys []ed25519.PrivateKey) ([]ed25519.PrivateKey, error) {
	if len(keys) == 0 || len(keys) > protocol.MaxAuthsPerRequest {
		return nil, fmt.Errorf("relayclient: %d keys (1..%d): %w", len(keys), protocol.MaxAuthsPerRequest, ErrTooManyKeys)
	}
	seen := make(map[crypto.MailboxID]struct{}, len(keys))
	out := keys[:0:0]
	for _, k := range keys {
		id := crypto.MailboxIDFromPub(k.Public().(ed25519.PublicKey))
		if _, ok := seen[id]; !ok {
			seen[id] = struct{}{}
			out = append(out, k)
		}
	}
	return out, nil
}

// Fetch returns one page of pending blobs of the mailboxes whose keys are
// given, in blob-ID order; more says further blobs remain (fetch again with
// After set to the last ID).
func (c *Client) Fetch(ctx context.Context, keys []ed25519.PrivateKey, o FetchOptions) ([]Blob, bool, error) {
	keys, err := dedupeKeys(keys)
	if err != nil {
		return nil, false, err
	}
	resp, err := c.doAuthed(ctx, func(ch []byte) *pb.MailboxRequest {
		a, _ := auths(keys, crypto.OpFetch, ch)
		f := &pb.Fetch{Challenge: ch, Auth: a, MaxBlobs: uint32(o.MaxBlobs), MaxBytes: uint64(o.MaxBytes), IdsOnly: o.IDsOnly}
		if o.After != (BlobID{}) {
			f.AfterBlobId = o.After[:]
		}
		return &pb.MailboxRequest{Body: &pb.MailboxRequest_Fetch{Fetch: f}}
	})
	if err != nil {
		return nil, false, err
	}
	fr := resp.GetFetch()
	if fr == nil {
		return nil, false, ErrBadResponse
	}
	out := blobsFromPB(fr)
	if o.IDsOnly {
		for i := range out {
			out[i].Data = nil
		}
	}
	return out, fr.More, nil
}

// List returns every pending blob of the mailboxes (IDs and sizes, no
// data), paging through the relay's listing.
func (c *Client) List(ctx context.Context, keys []ed25519.PrivateKey) ([]Blob, error) {
	var all []Blob
	o := FetchOptions{IDsOnly: true}
	for {
		page, more, err := c.Fetch(ctx, keys, o)
		if err != nil {
			return all, err
		}
		all = append(all, page...)
		if !more || len(page) == 0 {
			return all, nil
		}
		o.After = page[len(page)-1].ID
	}
}

// Ack deletes delivered blobs; keys must include the key of every mailbox
// named in refs. It returns how many blobs the relay deleted (an already
// deleted blob is not an error).
func (c *Client) Ack(ctx context.Context, keys []ed25519.PrivateKey, refs []Ref) (int, error) {
	if len(refs) == 0 {
		return 0, nil
	}
	if len(refs) > protocol.MaxBlobRefsPerAck {
		total := 0
		for len(refs) > 0 {
			n := min(len(refs), protocol.MaxBlobRefsPerAck)
			d, err := c.Ack(ctx, keys, refs[:n])
			total += d
			if err != nil {
				return total, err
			}
			refs = refs[n:]
		}
		return total, nil
	}
	// Sign only for the mailboxes the refs name.
	need := make(map[crypto.MailboxID]struct{})
	for _, r := range refs {
		need[r.Mailbox] = struct{}{}
	}
	var use []ed25519.PrivateKey
	for _, k := range keys {
		id := crypto.MailboxIDFromPub(k.Public().(ed25519.PublicKey))
		if _, ok := need[id]; ok {
			use = append(use, k)
			delete(need, id)
		}
	}
	if len(need) > 0 {
		return 0, fmt.Errorf("relayclient: ack: %d mailboxes without a key", len(need))
	}
	pbRefs := make([]*pb.BlobRef, len(refs))
	for i, r := range refs {
		pbRefs[i] = &pb.BlobRef{MailboxId: append([]byte(nil), r.Mailbox[:]...), BlobId: append([]byte(nil), r.ID[:]...)}
	}
	resp, err := c.doAuthed(ctx, func(ch []byte) *pb.MailboxRequest {
		a, _ := auths(use, crypto.OpAck, ch)
		return &pb.MailboxRequest{Body: &pb.MailboxRequest_Ack{Ack: &pb.Ack{Challenge: ch, Auth: a, Blobs: pbRefs}}}
	})
	if err != nil {
		return 0, err
	}
	ar := resp.GetAck()
	if ar == nil {
		return 0, ErrBadResponse
	}
	return int(ar.Deleted), nil
}

// Forget deletes every blob in the mailboxes and withdraws this
// connection's rendezvous entries at the relay (DESIGN.md P8).
func (c *Client) Forget(ctx context.Context, keys []ed25519.PrivateKey) (int, error) {
	keys, err := dedupeKeys(keys)
	if err != nil {
		return 0, err
	}
	resp, err := c.doAuthed(ctx, func(ch []byte) *pb.MailboxRequest {
		a, _ := auths(keys, crypto.OpForget, ch)
		return &pb.MailboxRequest{Body: &pb.MailboxRequest_Forget{Forget: &pb.Forget{Challenge: ch, Auth: a}}}
	})
	if err != nil {
		return 0, err
	}
	fr := resp.GetForget()
	if fr == nil {
		return 0, ErrBadResponse
	}
	return int(fr.Deleted), nil
}

// Subscription is a long-lived subscribed mailbox stream. Its goroutine
// calls onNotify for each pushed notification until ctx ends, Close is
// called or the stream breaks; Done is closed then and Err says why.
type Subscription struct {
	// Pending is how many blobs were already waiting when the subscription
	// started: list them (List/Fetch) to catch up.
	Pending int

	c      *Client
	s      network.Stream
	done   chan struct{}
	once   sync.Once
	mu     sync.Mutex // guards err
	err    error
	cancel context.CancelFunc
}

// Subscribe proves control of the mailboxes and starts a subscription on a
// stream of its own. onNotify runs on the subscription's goroutine; it
// must not block for long (the relay drops notifications for a slow
// subscriber; re-list after a reconnect).
func (c *Client) Subscribe(ctx context.Context, keys []ed25519.PrivateKey, onNotify func(Notify)) (*Subscription, error) {
	keys, err := dedupeKeys(keys)
	if err != nil {
		return nil, err
	}
	s, rd, err := c.openStream(ctx, protocol.MailboxProtocol, protocol.MaxMailboxResponse)
	if err != nil {
		return nil, err
	}
	rs := &reqStream{s: s, r: rd, w: protocol.NewWriter(s)}
	resp, _, err := c.roundTrip(ctx, rs, &pb.MailboxRequest{Body: &pb.MailboxRequest_Challenge{Challenge: &pb.ChallengeRequest{}}})
	if err == nil {
		ch := resp.GetChallenge()
		if ch == nil {
			err = ErrBadResponse
		} else {
			a, _ := auths(keys, crypto.OpSubscribe, ch.Nonce)
			resp, _, err = c.roundTrip(ctx, rs, &pb.MailboxRequest{Body: &pb.MailboxRequest_Subscribe{Subscribe: &pb.Subscribe{Challenge: ch.Nonce, Auth: a}}})
		}
	}
	if err == nil && resp.GetSubscribe() == nil {
		err = ErrBadResponse
	}
	if err != nil {
		_ = s.Reset()
		return nil, err
	}
	_ = s.SetDeadline(time.Time{})
	sctx, cancel := context.WithCancel(ctx)
	sub := &Subscription{Pending: int(resp.GetSubscribe().Pending), c: c, s: s, done: make(chan struct{}), cancel: cancel}
	if err := c.track(sub); err != nil {
		cancel()
		_ = s.Reset()
		return nil, err
	}
	go sub.run(sctx, rd, onNotify, rs)
	return sub, nil
}

// keepAlive sends a ChallengeRequest every period so the relay does not
// close the subscribed stream as idle; run ignores the answers.
func (sub *Subscription) keepAlive(ctx context.Context, rs *reqStream, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			rs.nextID++
			_ = sub.s.SetWriteDeadline(time.Now().Add(sub.c.cfg.Timeout))
			if err := rs.w.WriteMsg(&pb.MailboxRequest{Id: rs.nextID, Body: &pb.MailboxRequest_Challenge{Challenge: &pb.ChallengeRequest{}}}); err != nil {
				return
			}
		}
	}
}

func (sub *Subscription) run(ctx context.Context, rd *protocol.Reader, onNotify func(Notify), rs *reqStream) {
	defer close(sub.done)
	defer sub.c.untrack(sub)
	stop := context.AfterFunc(ctx, func() { _ = sub.s.Reset() })
	defer stop()
	kctx, kcancel := context.WithCancel(ctx)
	kdone := make(chan struct{})
	go func() {
		defer close(kdone)
		sub.keepAlive(kctx, rs, sub.c.cfg.KeepAlive)
	}()
	defer func() { kcancel(); <-kdone }()
	for {
		resp := &pb.MailboxResponse{}
		err := rd.ReadMsg(resp)
		if err == nil {
			err = protocol.ValidateMailboxResponse(resp)
		}
		if err == nil && resp.Error != nil && resp.Id == 0 {
			err = protocol.FromPB(resp.Error) // the relay closes the stream
		}
		if err != nil {
			if ctx.Err() != nil {
				err = ctx.Err()
			} else if errors.Is(err, io.EOF) {
				err = io.EOF
			}
			sub.setErr(err)
			_ = sub.s.Reset()
			return
		}
		if n := resp.GetNotify(); n != nil {
			onNotify(notifyFromPB(n))
		}
	}
}

func (sub *Subscription) setErr(err error) {
	sub.mu.Lock()
	if sub.err == nil {
		sub.err = err
	}
	sub.mu.Unlock()
}

// Done is closed when the subscription ends.
func (sub *Subscription) Done() <-chan struct{} { return sub.done }

// Err returns why the subscription ended (nil while it runs;
// context.Canceled after Close).
func (sub *Subscription) Err() error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.err
}

// Close ends the subscription and waits for its goroutine.
func (sub *Subscription) Close() error {
	sub.once.Do(func() {
		sub.setErr(context.Canceled)
		sub.cancel()
	})
	<-sub.done
	return nil
}

// blobsFromPB converts a validated FetchResult.
func blobsFromPB(fr *pb.FetchResult) []Blob {
	out := make([]Blob, len(fr.Blobs))
	for i, b := range fr.Blobs {
		out[i] = Blob{
			Mailbox:  crypto.MailboxID(b.MailboxId),
			ID:       BlobID(b.BlobId),
			Data:     b.Data,
			Size:     int(b.Size),
			Received: time.Unix(b.ReceivedUnix, 0),
		}
	}
	return out
}

// notifyFromPB converts a validated Notify.
func notifyFromPB(n *pb.Notify) Notify {
	return Notify{Mailbox: crypto.MailboxID(n.MailboxId), ID: BlobID(n.BlobId), Size: int(n.Size)}
}
