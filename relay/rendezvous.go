package relay

import (
	"crypto/rand"
	"errors"
	"time"

	"google.golang.org/protobuf/proto"

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
	acct := memAccount{r.mem, conn}
	rs := &rvStream{
		r:          r,
		s:          s,
		conn:       conn,
		fw:         newFrameWriter(s, r.cfg.Limits.WriteTimeout.D(), acct),
		matches:    make(chan *pb.Match, r.cfg.Limits.MatchQueue),
		pusherStop: make(chan struct{}),
		pusherDone: make(chan struct{}),
	}
	rand.Read(rs.origin[:])
	rs.sess = r.rv.NewAccountedSession(rs, conn.budget, acct)
	conn.addSession(rs.sess)
	go rs.pusher()
	rd := protocol.NewReader(s, protocol.MaxRendezvousRequest)
	rd.SetBodyCaps(protocol.RendezvousRequestCaps)
	rd.SetAccount(acct)
	defer func() {
		if r.rv.Close(rs.sess) > 0 {
			r.gossipWithdraw(rs.sess)
		}
		conn.removeSession(rs.sess)
		rs.fw.stop()
		close(rs.pusherStop)
		<-rs.pusherDone
		rs.fw.finish()
		rd.Release()
	}()
	l := &requestLoop{
		r: r, s: s, conn: conn, rd: rd, perUnit: 256, fw: rs.fw,
		desc: (&pb.RendezvousRequest{}).ProtoReflect().Descriptor(),
		idle: func() time.Duration {
			if r.rv.Entries(rs.sess) > 0 {
				return r.cfg.Limits.SubscribedIdleTimeout.D()
			}
			return r.cfg.Limits.IdleTimeout.D()
		},
		newReq:   func() proto.Message { return &pb.RendezvousRequest{} },
		validate: func(m proto.Message) error { return protocol.ValidateRendezvousRequest(m.(*pb.RendezvousRequest)) },
		handle: func(m proto.Message) (proto.Message, pb.ErrorCode) {
			req := m.(*pb.RendezvousRequest)
			resp := rs.handle(req)
			resp.Id = req.Id
			if resp.Error != nil {
				return resp, resp.Error.Code
			}
			return resp, pb.ErrorCode_OK
		},
		errResp: func(id uint64, err error) proto.Message {
			return &pb.RendezvousResponse{Id: id, Error: protocol.ToPB(err)}
		},
		rateLimited: func() {},
	}
	l.run()
}

func rvErr(err error) *pb.RendezvousResponse {
	return &pb.RendezvousResponse{Error: protocol.ToPB(err)}
}

func (rs *rvStream) handle(req *pb.RendezvousRequest) *pb.RendezvousResponse {
	r := rs.r
	if !r.beginRequest() {
		r.m.drop(dropDraining)
		return rvErr(&protocol.Error{Code: pb.ErrorCode_UNAVAILABLE, Detail: "relay shutting down"})
	}
	defer r.endRequest()
	switch b := req.Body.(type) {
	case *pb.RendezvousRequest_Announce:
		r.m.req[reqAnnounce].Inc()
		return rs.announce(b.Announce)
	case *pb.RendezvousRequest_LateAnnounce:
		r.m.req[reqLateAnnounce].Inc()
		return rs.lateAnnounce(b.LateAnnounce)
	case *pb.RendezvousRequest_HistoryForget:
		r.m.req[reqHistoryForget].Inc()
		return rs.historyForget(b.HistoryForget)
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
	case errors.Is(err, rendezvous.ErrMemory):
		return errMemory
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
	// Kept in history before the acknowledgement: a kill -9 after the
	// answer loses nothing a late announcement could match.
	if err := rs.storeLive(a); err != nil {
		return rvErr(err)
	}
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
