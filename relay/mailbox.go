package relay

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
	"github.com/imigee/imigee/relay/store"
)

// mailboxStream is the state of one mailbox stream: its outstanding
// challenges and its subscription. Only the stream's request loop touches
// it, except sub.ch which the hub fills.
type mailboxStream struct {
	r    *Relay
	s    serviceStream
	conn *connState
	acct memAccount
	fw   *frameWriter

	fetchHeld int // budget reserved for the fetch batch being answered

	challenges map[[protocol.ChallengeSize]byte]time.Time // nonce → expiry

	sub        *subscriber
	subMboxes  []crypto.MailboxID
	pusherStop chan struct{}
	pusherDone chan struct{}
}

// serveMailbox runs the request loop of one mailbox stream until the peer
// closes it, a frame is malformed, a deadline passes or the relay stops. It
// returns only after the stream's pusher and writer goroutines have stopped.
func (r *Relay) serveMailbox(s serviceStream, conn *connState) {
	acct := memAccount{r.mem, conn}
	ms := &mailboxStream{
		r:          r,
		s:          s,
		conn:       conn,
		acct:       acct,
		fw:         newFrameWriter(s, r.cfg.Limits.WriteTimeout.D(), acct),
		challenges: make(map[[protocol.ChallengeSize]byte]time.Time),
	}
	rd := protocol.NewReader(s, protocol.MaxMailboxRequest)
	rd.SetBodyCaps(protocol.MailboxRequestCaps)
	rd.SetAccount(acct)
	defer func() {
		ms.fw.stop()
		ms.unsubscribe()
		ms.fw.finish()
		rd.Release()
		ms.releaseFetch()
	}()
	l := &requestLoop{
		r: r, s: s, conn: conn, rd: rd, perUnit: mailboxPerUnit, fw: ms.fw,
		desc: (&pb.MailboxRequest{}).ProtoReflect().Descriptor(),
		idle: func() time.Duration {
			if ms.sub != nil {
				return r.cfg.Limits.SubscribedIdleTimeout.D()
			}
			return r.cfg.Limits.IdleTimeout.D()
		},
		newReq:   func() proto.Message { return &pb.MailboxRequest{} },
		validate: func(m proto.Message) error { return protocol.ValidateMailboxRequest(m.(*pb.MailboxRequest)) },
		handle: func(m proto.Message) (proto.Message, pb.ErrorCode) {
			req := m.(*pb.MailboxRequest)
			resp := ms.handle(req)
			resp.Id = req.Id
			if resp.Error != nil {
				return resp, resp.Error.Code
			}
			return resp, pb.ErrorCode_OK
		},
		errResp: func(id uint64, err error) proto.Message {
			return &pb.MailboxResponse{Id: id, Error: protocol.ToPB(err)}
		},
		rateLimited: ms.voidChallenges,
		afterWrite:  ms.releaseFetch,
	}
	l.run()
}

// handle answers one validated request. It never changes state when it
// returns an error response.
func (ms *mailboxStream) handle(req *pb.MailboxRequest) *pb.MailboxResponse {
	r := ms.r
	if !r.beginRequest() {
		r.m.drop(dropDraining)
		return errResp(&protocol.Error{Code: pb.ErrorCode_UNAVAILABLE, Detail: "relay shutting down"})
	}
	defer r.endRequest()
	switch b := req.Body.(type) {
	case *pb.MailboxRequest_Challenge:
		r.m.req[reqChallenge].Inc()
		return ms.challenge()
	case *pb.MailboxRequest_Put:
		r.m.req[reqPut].Inc()
		return ms.put(b.Put)
	case *pb.MailboxRequest_Fetch:
		r.m.req[reqFetch].Inc()
		return ms.fetch(b.Fetch)
	case *pb.MailboxRequest_Ack:
		r.m.req[reqAck].Inc()
		return ms.ack(b.Ack)
	case *pb.MailboxRequest_Subscribe:
		r.m.req[reqSubscribe].Inc()
		return ms.subscribe(b.Subscribe)
	case *pb.MailboxRequest_Forget:
		r.m.req[reqForget].Inc()
		return ms.forget(b.Forget)
	}
	return errResp(protocol.ErrUnsupported)
}

// voidChallenges drops the stream's outstanding challenges after a
// RATE_LIMITED answer: the refused request may have carried one, and
// unconsumed challenges must not pile up to MaxChallenges and lock the
// stream out. The client asks for a fresh one after backing off.
func (ms *mailboxStream) voidChallenges() {
	clear(ms.challenges)
}

// releaseFetch returns the budget reserved for the last fetch batch, once
// its response is encoded (or dropped).
func (ms *mailboxStream) releaseFetch() {
	ms.acct.Release(ms.fetchHeld)
	ms.fetchHeld = 0
}

func errResp(err error) *pb.MailboxResponse {
	return &pb.MailboxResponse{Error: protocol.ToPB(err)}
}

// challenge issues a fresh single-use nonce bound to this stream.
func (ms *mailboxStream) challenge() *pb.MailboxResponse {
	now := ms.r.cfg.Now()
	for n, exp := range ms.challenges {
		if !now.Before(exp) {
			delete(ms.challenges, n)
		}
	}
	if len(ms.challenges) >= ms.r.cfg.Limits.MaxChallenges {
		return errResp(&protocol.Error{Code: pb.ErrorCode_RATE_LIMITED, Detail: "too many outstanding challenges"})
	}
	var n [protocol.ChallengeSize]byte
	rand.Read(n[:])
	exp := now.Add(ms.r.cfg.Limits.ChallengeTTL.D())
	ms.challenges[n] = exp
	return &pb.MailboxResponse{Body: &pb.MailboxResponse_Challenge{Challenge: &pb.Challenge{Nonce: n[:], ExpiresUnix: exp.Unix()}}}
}

// authorize consumes the challenge (whatever the outcome, so a nonce is
// never tried twice) and verifies every auth for op. It returns the proven
// mailbox IDs.
func (ms *mailboxStream) authorize(op crypto.MailboxOp, challenge []byte, auths []*pb.MailboxAuth) ([]crypto.MailboxID, error) {
	var n [protocol.ChallengeSize]byte
	copy(n[:], challenge)
	exp, ok := ms.challenges[n]
	if !ok {
		return nil, &protocol.Error{Code: pb.ErrorCode_UNAUTHORIZED, Detail: "unknown or used challenge"}
	}
	delete(ms.challenges, n)
	if !ms.r.cfg.Now().Before(exp) {
		return nil, &protocol.Error{Code: pb.ErrorCode_STALE, Detail: "challenge expired"}
	}
	ids := make([]crypto.MailboxID, len(auths))
	for i, a := range auths {
		copy(ids[i][:], a.MailboxId)
		if err := crypto.VerifyMailboxAuth(op, challenge, ids[i], a.Pub, a.Sig); err != nil {
			return nil, &protocol.Error{Code: pb.ErrorCode_UNAUTHORIZED, Detail: "mailbox proof does not verify"}
		}
	}
	return ids, nil
}

func (ms *mailboxStream) put(p *pb.Put) *pb.MailboxResponse {
	r := ms.r
	if len(p.Blob) > r.cfg.Store.MaxBlobSize {
		return errResp(&protocol.Error{Code: pb.ErrorCode_TOO_LARGE, Detail: "blob exceeds the relay's cap"})
	}
	if !r.cfg.AnyBlobSize && !protocol.IsBlobSize(len(p.Blob)) {
		// P12: only size classes, so a blob's size tells one of two things.
		r.m.drop(dropBlobSize)
		return errResp(&protocol.Error{Code: pb.ErrorCode_BAD_REQUEST, Detail: "blob size is not a size class"})
	}
	var mbox crypto.MailboxID
	copy(mbox[:], p.MailboxId)
	now := time.Now()
	boxBytes, total := r.store.Usage(mbox)
	if err := r.admit.admit(now, ms.conn, len(p.Blob), boxBytes, total); err != nil {
		return errResp(err)
	}
	id, exp, err := r.store.Put(context.Background(), mbox, p.Blob)
	if err != nil {
		return errResp(storeErr(err))
	}
	r.admit.charge(now, ms.conn, len(p.Blob))
	r.m.puts.Inc()
	r.m.putBytes.Add(float64(len(p.Blob)))
	r.hub.notify(mbox, &pb.Notify{MailboxId: mbox[:], BlobId: append([]byte(nil), id[:]...), Size: uint32(len(p.Blob))})
	r.push.onPut(mbox)
	return &pb.MailboxResponse{Body: &pb.MailboxResponse_Put{Put: &pb.PutResult{BlobId: id[:], ExpiresUnix: exp.Unix()}}}
}

// storeErr maps store sentinels to protocol errors; anything else is
// INTERNAL with no detail (ToPB drops the wrapped text).
func storeErr(err error) error {
	switch {
	case errors.Is(err, store.ErrTooLarge):
		return &protocol.Error{Code: pb.ErrorCode_TOO_LARGE, Detail: "blob exceeds the relay's cap"}
	case errors.Is(err, store.ErrEmpty):
		return &protocol.Error{Code: pb.ErrorCode_BAD_REQUEST, Detail: "empty blob"}
	case errors.Is(err, store.ErrMailboxQuota):
		return &protocol.Error{Code: pb.ErrorCode_QUOTA_EXCEEDED, Detail: "mailbox quota exceeded"}
	case errors.Is(err, store.ErrGlobalQuota):
		return &protocol.Error{Code: pb.ErrorCode_QUOTA_EXCEEDED, Detail: "relay storage full"}
	case errors.Is(err, store.ErrClosed):
		return &protocol.Error{Code: pb.ErrorCode_UNAVAILABLE, Detail: "relay shutting down"}
	}
	return err
}

func (ms *mailboxStream) fetch(f *pb.Fetch) *pb.MailboxResponse {
	r := ms.r
	ids, err := ms.authorize(crypto.OpFetch, f.Challenge, f.Auth)
	if err != nil {
		return errResp(err)
	}
	maxBlobs := protocol.MaxBlobsPerFetch
	if f.MaxBlobs > 0 && int(f.MaxBlobs) < maxBlobs {
		maxBlobs = int(f.MaxBlobs)
	}
	maxBytes := int64(r.cfg.Limits.FetchMaxBytes)
	if f.MaxBytes > 0 && f.MaxBytes < uint64(maxBytes) {
		maxBytes = int64(f.MaxBytes)
	}
	if !f.IdsOnly {
		// The batch is read into memory: reserve it first. A batch holds at
		// least one blob whatever max_bytes says, so reserve for that too.
		need := int(max(maxBytes, int64(r.cfg.Store.MaxBlobSize)))
		if err := ms.acct.Reserve(need); err != nil {
			return errResp(err)
		}
		ms.fetchHeld = need
	}
	var after store.BlobID
	copy(after[:], f.AfterBlobId)
	blobs, more, err := r.store.List(ids, after, maxBlobs, maxBytes, !f.IdsOnly)
	if err != nil {
		return errResp(storeErr(err))
	}
	res := &pb.FetchResult{Blobs: make([]*pb.Blob, len(blobs)), More: more}
	for i, b := range blobs {
		res.Blobs[i] = &pb.Blob{
			MailboxId:    append([]byte(nil), b.Mailbox[:]...),
			BlobId:       append([]byte(nil), b.ID[:]...),
			Data:         b.Data,
			Size:         uint32(b.Size),
			ReceivedUnix: b.Received.Unix(),
		}
	}
	r.m.fetched.Add(float64(len(blobs)))
	return &pb.MailboxResponse{Body: &pb.MailboxResponse_Fetch{Fetch: res}}
}

func (ms *mailboxStream) ack(a *pb.Ack) *pb.MailboxResponse {
	ids, err := ms.authorize(crypto.OpAck, a.Challenge, a.Auth)
	if err != nil {
		return errResp(err)
	}
	// ValidateMailboxRequest already checked every ref names an authed
	// mailbox; check again here so this handler's safety does not rest on
	// another package's validation.
	allowed := make(map[crypto.MailboxID]struct{}, len(ids))
	for _, id := range ids {
		allowed[id] = struct{}{}
	}
	refs := make([]store.Ref, len(a.Blobs))
	for i, b := range a.Blobs {
		copy(refs[i].Mailbox[:], b.MailboxId)
		copy(refs[i].ID[:], b.BlobId)
		if _, ok := allowed[refs[i].Mailbox]; !ok {
			return errResp(&protocol.Error{Code: pb.ErrorCode_UNAUTHORIZED, Detail: "ack names an unproven mailbox"})
		}
	}
	n, err := ms.r.store.Ack(refs)
	if err != nil {
		return errResp(storeErr(err))
	}
	ms.r.m.acked.Add(float64(n))
	return &pb.MailboxResponse{Body: &pb.MailboxResponse_Ack{Ack: &pb.AckResult{Deleted: uint32(n)}}}
}

func (ms *mailboxStream) subscribe(sreq *pb.Subscribe) *pb.MailboxResponse {
	r := ms.r
	ids, err := ms.authorize(crypto.OpSubscribe, sreq.Challenge, sreq.Auth)
	if err != nil {
		return errResp(err)
	}
	// A new Subscribe replaces the stream's set (the client sends the day's
	// full set). The hub learns the set before the count is read, so a blob
	// put in between is counted, notified or both, never neither.
	if ms.sub == nil {
		ms.sub = &subscriber{ch: make(chan *pb.Notify, r.cfg.Limits.NotifyQueue)}
		ms.pusherStop = make(chan struct{})
		ms.pusherDone = make(chan struct{})
		go ms.pusher()
		r.m.subscribed.Inc()
	} else {
		r.hub.remove(ms.sub, ms.subMboxes)
	}
	ms.subMboxes = ids
	r.hub.add(ms.sub, ids)
	pending, err := r.store.Count(ids)
	if err != nil {
		return errResp(storeErr(err))
	}
	return &pb.MailboxResponse{Body: &pb.MailboxResponse_Subscribe{Subscribe: &pb.SubscribeResult{Pending: uint32(pending)}}}
}

// pusher writes queued notifications until the stream's loop ends.
func (ms *mailboxStream) pusher() {
	defer close(ms.pusherDone)
	for {
		select {
		case <-ms.pusherStop:
			return
		case n := <-ms.sub.ch:
			if err := ms.fw.write(&pb.MailboxResponse{Body: &pb.MailboxResponse_Notify{Notify: n}}); err != nil {
				return
			}
		}
	}
}

// unsubscribe removes the subscription and waits for the pusher.
func (ms *mailboxStream) unsubscribe() {
	if ms.sub == nil {
		return
	}
	ms.r.hub.remove(ms.sub, ms.subMboxes)
	close(ms.pusherStop)
	<-ms.pusherDone
	ms.r.m.subscribed.Dec()
}

func (ms *mailboxStream) forget(f *pb.Forget) *pb.MailboxResponse {
	r := ms.r
	ids, err := ms.authorize(crypto.OpForget, f.Challenge, f.Auth)
	if err != nil {
		return errResp(err)
	}
	n, err := r.store.DeleteMailboxes(ids)
	if err != nil {
		return errResp(storeErr(err))
	}
	r.m.forgotten.Add(float64(n))
	// The requester's rendezvous entries on this connection go too (P8).
	for _, s := range ms.conn.sessionList() {
		r.rv.Withdraw(s)
		r.gossipWithdraw(s)
	}
	return &pb.MailboxResponse{Body: &pb.MailboxResponse_Forget{Forget: &pb.ForgetResult{Deleted: uint32(n)}}}
}
