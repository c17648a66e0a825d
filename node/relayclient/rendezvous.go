package relayclient

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/network"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// Token is one proximity token: Here for the device's own cell, near
// otherwise. Here=here and here=near match; near=near does not.
type Token struct {
	Value [protocol.TokenSize]byte
	Here  bool
}

// Announcement is one friend's tokens and the record sealed for that
// friend (opaque to the relay).
type Announcement struct {
	Tokens []Token
	Record []byte
}

// Match says a token of ours matched; Record is the other side's sealed
// record (or, with Shared, its key share) and Shared the other side's
// shared record, if it sent one (AnnounceShared).
type Match struct {
	Epoch  uint64
	Token  [protocol.TokenSize]byte
	Record []byte
	Shared []byte
}

// Rendezvous is a rendezvous session: one stream whose announcements live
// at the relay until Withdraw, Close, the stream's end or their epoch
// window passes. Matches found later are pushed to onMatch, on the
// session's goroutine.
type Rendezvous struct {
	c       *Client
	s       network.Stream
	onMatch func(Match)

	wmu    sync.Mutex // guards w, nextID and writes
	w      *protocol.Writer
	nextID uint64

	mu      sync.Mutex // guards pending and err
	pending map[uint64]chan *pb.RendezvousResponse
	err     error

	done chan struct{}
	once sync.Once
}

// Rendezvous opens a rendezvous session.
func (c *Client) Rendezvous(ctx context.Context, onMatch func(Match)) (*Rendezvous, error) {
	s, rd, err := c.openStream(ctx, protocol.RendezvousProtocol, protocol.MaxRendezvousResponse)
	if err != nil {
		return nil, err
	}
	rv := &Rendezvous{c: c, s: s, onMatch: onMatch, w: protocol.NewWriter(s), pending: make(map[uint64]chan *pb.RendezvousResponse), done: make(chan struct{})}
	if err := c.track(rv); err != nil {
		_ = s.Reset()
		return nil, err
	}
	go rv.run(rd)
	return rv, nil
}

func (rv *Rendezvous) run(rd *protocol.Reader) {
	defer close(rv.done)
	defer rv.c.untrack(rv)
	for {
		resp := &pb.RendezvousResponse{}
		err := rd.ReadMsg(resp)
		if err == nil {
			err = protocol.ValidateRendezvousResponse(resp)
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.EOF
			}
			rv.fail(err)
			return
		}
		if m := resp.GetMatch(); m != nil && resp.Id == 0 {
			if rv.onMatch != nil {
				rv.onMatch(matchFromPB(m))
			}
			continue
		}
		if resp.Id == 0 && resp.Error != nil {
			rv.fail(protocol.FromPB(resp.Error))
			return
		}
		rv.mu.Lock()
		ch := rv.pending[resp.Id]
		delete(rv.pending, resp.Id)
		rv.mu.Unlock()
		if ch != nil {
			ch <- resp
		}
	}
}

// fail ends the session: pending calls get err.
func (rv *Rendezvous) fail(err error) {
	rv.mu.Lock()
	if rv.err == nil {
		rv.err = err
	}
	for id, ch := range rv.pending {
		close(ch)
		delete(rv.pending, id)
	}
	rv.mu.Unlock()
	_ = rv.s.Reset()
}

func matchFromPB(m *pb.Match) Match {
	return Match{Epoch: m.Epoch, Token: [protocol.TokenSize]byte(m.Token), Record: m.SealedRecord, Shared: m.SharedRecord}
}

// call sends req and waits for its response.
func (rv *Rendezvous) call(ctx context.Context, req *pb.RendezvousRequest) (*pb.RendezvousResponse, error) {
	ch := make(chan *pb.RendezvousResponse, 1)
	rv.wmu.Lock()
	rv.nextID++
	req.Id = rv.nextID
	rv.mu.Lock()
	if rv.err != nil {
		err := rv.err
		rv.mu.Unlock()
		rv.wmu.Unlock()
		return nil, fmt.Errorf("relayclient: rendezvous session ended: %w", err)
	}
	rv.pending[req.Id] = ch
	rv.mu.Unlock()
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Now().Add(rv.c.cfg.Timeout)
	}
	_ = rv.s.SetWriteDeadline(dl)
	err := rv.w.WriteMsg(req)
	rv.wmu.Unlock()
	if err != nil {
		rv.fail(err)
		return nil, fmt.Errorf("relayclient: send: %w", err)
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			rv.mu.Lock()
			err := rv.err
			rv.mu.Unlock()
			return nil, fmt.Errorf("relayclient: rendezvous session ended: %w", err)
		}
		if resp.Error != nil {
			return nil, protocol.FromPB(resp.Error)
		}
		return resp, nil
	case <-ctx.Done():
		rv.mu.Lock()
		delete(rv.pending, req.Id)
		rv.mu.Unlock()
		return nil, ctx.Err()
	case <-rv.done:
		return nil, fmt.Errorf("relayclient: rendezvous session ended: %w", rv.Err())
	}
}

// Announce publishes announcements for one epoch and returns how many new
// token entries the relay accepted and the matches found at once. Later
// matches arrive through onMatch.
func (rv *Rendezvous) Announce(ctx context.Context, epochSeconds uint32, epoch uint64, anns []Announcement) (int, []Match, error) {
	return rv.AnnounceShared(ctx, epochSeconds, epoch, nil, anns)
}

// AnnounceShared is Announce with one shared record (at most
// protocol.MaxSealedRecord bytes) sent once for all anns; a friend matching
// any of them gets it along with that announcement's own Record.
func (rv *Rendezvous) AnnounceShared(ctx context.Context, epochSeconds uint32, epoch uint64, shared []byte, anns []Announcement) (int, []Match, error) {
	return rv.announce(ctx, false, &pb.Announce{Epoch: epoch, EpochSeconds: epochSeconds, SharedRecord: shared}, anns)
}

// announce sends a (live or late) Announce with anns filled in.
func (rv *Rendezvous) announce(ctx context.Context, late bool, a *pb.Announce, anns []Announcement) (int, []Match, error) {
	a.Announcements = make([]*pb.Announcement, len(anns))
	for i, an := range anns {
		toks := make([]*pb.Token, len(an.Tokens))
		for j, t := range an.Tokens {
			kind := pb.TokenKind_NEAR
			if t.Here {
				kind = pb.TokenKind_HERE
			}
			toks[j] = &pb.Token{Value: append([]byte(nil), t.Value[:]...), Kind: kind}
		}
		a.Announcements[i] = &pb.Announcement{Tokens: toks, SealedRecord: an.Record}
	}
	req := &pb.RendezvousRequest{Body: &pb.RendezvousRequest_Announce{Announce: a}}
	if late {
		req.Body = &pb.RendezvousRequest_LateAnnounce{LateAnnounce: a}
	}
	if err := protocol.ValidateRendezvousRequest(&pb.RendezvousRequest{Id: 1, Body: req.Body}); err != nil {
		return 0, nil, err
	}
	resp, err := rv.call(ctx, req)
	if err != nil {
		return 0, nil, err
	}
	ar := resp.GetAnnounce()
	if ar == nil {
		return 0, nil, ErrBadResponse
	}
	ms := make([]Match, len(ar.Matches))
	for i, m := range ar.Matches {
		ms[i] = matchFromPB(m)
	}
	return int(ar.Accepted), ms, nil
}

// Withdraw drops all of this session's entries and returns how many.
func (rv *Rendezvous) Withdraw(ctx context.Context) (int, error) {
	resp, err := rv.call(ctx, &pb.RendezvousRequest{Body: &pb.RendezvousRequest_Withdraw{Withdraw: &pb.Withdraw{}}})
	if err != nil {
		return 0, err
	}
	w := resp.GetWithdraw()
	if w == nil {
		return 0, ErrBadResponse
	}
	return int(w.Dropped), nil
}

// Done is closed when the session ends.
func (rv *Rendezvous) Done() <-chan struct{} { return rv.done }

// Err returns why the session ended, or nil while it runs.
func (rv *Rendezvous) Err() error {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return rv.err
}

// Close ends the session (the relay drops its entries) and waits for its
// goroutine.
func (rv *Rendezvous) Close() error {
	rv.once.Do(func() {
		rv.mu.Lock()
		if rv.err == nil {
			rv.err = context.Canceled
		}
		rv.mu.Unlock()
		_ = rv.s.Reset()
	})
	<-rv.done
	return nil
}
