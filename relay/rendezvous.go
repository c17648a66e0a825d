package relay

import (
	"crypto/rand"
	"errors"
	"io"
	"time"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
	"github.com/imigee/imigee/relay/rendezvous"
)

// rvStream is one rendezvous stream: one engine session, a queue of pushed
// matches and its pusher goroutine.
type rvStream struct {
	r      *Relay
	s      serviceStream
	conn   *connState
	fw     *frameWriter
	sess   *rendezvous.Session
	origin [protocol.OriginSize]byte // names the session in gossip

	matches    chan *pb.Match
	pusherStop chan struct{}
	pusherDone chan struct{}
}

// serveRendezvous runs the request loop of one rendezvous stream. When it
// returns, the session's entries are gone here and withdrawn by gossip.
func (r *Relay) serveRendezvous(s serviceStream, conn *connState) {
	rs := &rvStream{
		r:          r,
		s:          s,
		conn:       conn,
		fw:         newFrameWriter(s, r.cfg.Limits.WriteTimeout.D()),
		matches:    make(chan *pb.Match, r.cfg.Limits.MatchQueue),
		pusherStop: make(chan struct{}),
		pusherDone: make(chan struct{}),
	}
	rand.Read(rs.origin[:])
	rs.sess = r.rv.NewSession(rs, conn.budget)
	conn.addSession(rs.sess)
	go rs.pusher()
	defer func() {
		if r.rv.Close(rs.sess) > 0 {
			r.gossipWithdraw(rs.sess)
		}
		conn.removeSession(rs.sess)
		close(rs.pusherStop)
		_ = s.SetWriteDeadline(time.Now())
		<-rs.pusherDone
	}()
	rd := protocol.NewReader(s, protocol.MaxRendezvousRequest)
	for {
		idle := r.cfg.Limits.IdleTimeout.D()
		if r.rv.Entries(rs.sess) > 0 {
			idle = r.cfg.Limits.SubscribedIdleTimeout.D()
		}
		req := &pb.RendezvousRequest{}
		err := readRequest(rd, s, idle+r.cfg.Limits.ReadTimeout.D(), req)
		if err != nil {
			if !errors.Is(err, io.EOF) && protocol.Code(err) != pb.ErrorCode_INTERNAL {
				r.m.error(protocol.Code(err))
				_ = rs.fw.write(&pb.RendezvousResponse{Error: protocol.ToPB(err)})
			}
			return
		}
		resp := rs.handle(req)
		resp.Id = req.Id
		if resp.Error != nil {
			r.m.error(resp.Error.Code)
		}
		if err := rs.fw.write(resp); err != nil {
			return
		}
	}
}

func rvErr(err error) *pb.RendezvousResponse {
	return &pb.RendezvousResponse{Error: protocol.ToPB(err)}
}

func (rs *rvStream) handle(req *pb.RendezvousRequest) *pb.RendezvousResponse {
	r := rs.r
	if err := protocol.ValidateRendezvousRequest(req); err != nil {
		return rvErr(err)
	}
	if !r.beginRequest() {
		r.m.drop(dropDraining)
		return rvErr(&protocol.Error{Code: pb.ErrorCode_UNAVAILABLE, Detail: "relay shutting down"})
	}
	defer r.endRequest()
	cost := 1
	if a := req.GetAnnounce(); a != nil {
		cost += len(a.Announcements) / 64
	}
	if !rs.conn.allow(time.Now(), cost) {
		r.m.drop(dropRateLimit)
		return rvErr(&protocol.Error{Code: pb.ErrorCode_RATE_LIMITED, Detail: "request rate exceeded"})
	}
	switch b := req.Body.(type) {
	case *pb.RendezvousRequest_Announce:
		r.m.req[reqAnnounce].Inc()
		return rs.announce(b.Announce)
	case *pb.RendezvousRequest_Withdraw:
		r.m.req[reqWithdraw].Inc()
		// Every rendezvous session of this connection, not only this
		// stream's: a client that goes quiet must not stay visible
		// through a stream it forgot about (PROTOCOL.md, Withdraw).
		n := 0
		for _, s := range rs.conn.sessionList() {
			if d := r.rv.Withdraw(s); d > 0 {
				n += d
				r.gossipWithdraw(s)
			}
		}
		return &pb.RendezvousResponse{Body: &pb.RendezvousResponse_Withdraw{Withdraw: &pb.WithdrawResult{Dropped: uint32(n)}}}
	}
	return rvErr(protocol.ErrUnsupported)
}

// engineAnnouncements converts validated wire announcements.
func engineAnnouncements(as []*pb.Announcement) []rendezvous.Announcement {
	out := make([]rendezvous.Announcement, len(as))
	for i, a := range as {
		toks := make([]rendezvous.Token, len(a.Tokens))
		for j, t := range a.Tokens {
			copy(toks[j].Value[:], t.Value)
			toks[j].Here = t.Kind == pb.TokenKind_HERE
		}
		out[i] = rendezvous.Announcement{Tokens: toks, Record: a.SealedRecord}
	}
	return out
}

// engineErr maps engine errors to protocol errors.
func engineErr(err error) error {
	switch {
	case errors.Is(err, rendezvous.ErrStale):
		return &protocol.Error{Code: pb.ErrorCode_STALE, Detail: "epoch outside the accepted window"}
	case errors.Is(err, rendezvous.ErrBadEpoch):
		return &protocol.Error{Code: pb.ErrorCode_BAD_REQUEST, Detail: "epoch length out of range"}
	case errors.Is(err, rendezvous.ErrBudget):
		return &protocol.Error{Code: pb.ErrorCode_RATE_LIMITED, Detail: "token budget for this epoch exceeded"}
	case errors.Is(err, rendezvous.ErrFull):
		return &protocol.Error{Code: pb.ErrorCode_UNAVAILABLE, Detail: "rendezvous memory full"}
	}
	return &protocol.Error{Code: pb.ErrorCode_UNAVAILABLE, Detail: "session closed"}
}

func (rs *rvStream) announce(a *pb.Announce) *pb.RendezvousResponse {
	r := rs.r
	n, mine, others, err := r.rv.AnnounceShared(rs.sess, a.EpochSeconds, a.Epoch, a.SharedRecord, engineAnnouncements(a.Announcements))
	if err != nil {
		return rvErr(engineErr(err))
	}
	r.m.announced.Add(float64(n))
	r.deliver(others)
	res := &pb.AnnounceResult{Accepted: uint32(n)}
	for i, m := range mine {
		pm := matchPB(m)
		if i < protocol.MaxMatchesPerResult {
			res.Matches = append(res.Matches, pm)
			r.m.matches.Inc()
		} else {
			rs.push(pm)
		}
	}
	if n > 0 {
		r.gossipAnnounce(rs, a)
	}
	return &pb.RendezvousResponse{Body: &pb.RendezvousResponse_Announce{Announce: res}}
}

func matchPB(m rendezvous.Match) *pb.Match {
	return &pb.Match{Epoch: m.Epoch, Token: append([]byte(nil), m.Token[:]...), SealedRecord: m.Record, SharedRecord: m.Shared}
}

// deliver pushes matches owed to local sessions; deliveries to remote
// sessions are dropped, since their own relay computes the same match.
func (r *Relay) deliver(ds []rendezvous.Delivery) {
	for _, d := range ds {
		if rs, ok := d.To.Owner().(*rvStream); ok {
			rs.push(matchPB(d.Match))
		}
	}
}

// push queues a match without blocking; a full queue drops and counts.
func (rs *rvStream) push(m *pb.Match) {
	select {
	case rs.matches <- m:
		rs.r.m.matches.Inc()
	default:
		rs.r.m.drop(dropMatchQueueFull)
	}
}

func (rs *rvStream) pusher() {
	defer close(rs.pusherDone)
	for {
		select {
		case <-rs.pusherStop:
			return
		case m := <-rs.matches:
			if err := rs.fw.write(&pb.RendezvousResponse{Body: &pb.RendezvousResponse_Match{Match: m}}); err != nil {
				return
			}
		}
	}
}
