package relay

import (
	"errors"
	"io"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// requestLoop is the request loop both services share. For each frame, in
// this order and before anything is allocated for it beyond the bytes that
// arrived (reserved with the memory budget as they arrive):
//
//  1. the frame is capped by its body type (protocol.BodyCaps) and must
//     complete within read_timeout once its first byte arrived;
//  2. the connection's rate limiter is charged one unit plus one per 64 KiB;
//  3. the body is pre-scanned (protocol.Scan: counts, nesting, one body) and
//     charged one more unit per perUnit repeated elements;
//  4. only then decoded and validated.
//
// A framing, scan, decode or validation failure is answered with an Error
// of id 0 and ends the stream (PROTOCOL.md: an id-0 error concerns the
// whole stream and is followed by the relay closing it). A rate-limited
// frame is answered RATE_LIMITED with the request's id and not decoded;
// the stream stays, but a client should back off and use a fresh stream.
type requestLoop struct {
	r    *Relay
	s    serviceStream
	conn *connState
	rd   *protocol.Reader
	fw   *frameWriter
	desc protoreflect.MessageDescriptor
	// perUnit is how many repeated elements cost one more rate unit: 16
	// for mailbox requests (each auth is a signature to verify), 256 for
	// rendezvous (tokens are cheap map operations).
	perUnit int

	idle        func() time.Duration
	newReq      func() proto.Message
	validate    func(proto.Message) error
	handle      func(proto.Message) (resp proto.Message, code pb.ErrorCode) // code != OK on error
	errResp     func(id uint64, err error) proto.Message
	rateLimited func() // after a RATE_LIMITED answer (voids challenges)
	afterWrite  func() // after each response is queued (releases fetch reservations)
}

func (l *requestLoop) run() {
	r := l.r
	for {
		err := nextFrame(l.rd, l.s, l.idle(), r.cfg.Limits.ReadTimeout.D())
		var req proto.Message
		limited := false
		var id uint64
		if err == nil {
			req = l.newReq()
			err = l.rd.ReadFrameFunc(func(body []byte) error {
				now := time.Now()
				if !l.conn.allow(now, frameCost(len(body))) {
					limited, id = true, protocol.PeekID(body)
					return nil
				}
				n, err := protocol.Scan(body, l.desc)
				if err != nil {
					return err
				}
				if n >= l.perUnit && !l.conn.allow(now, n/l.perUnit) {
					limited, id = true, protocol.PeekID(body)
					return nil
				}
				return protocol.Unmarshal(body, req)
			})
		}
		if err == nil && !limited {
			err = l.validate(req)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && protocol.Code(err) != pb.ErrorCode_INTERNAL {
				// Say why, then close: the stream may be out of step, and
				// a sender of malformed input gets no second frame for free.
				r.m.error(protocol.Code(err))
				_ = l.fw.write(l.errResp(0, err))
			}
			return
		}
		var resp proto.Message
		if limited {
			r.m.drop(dropRateLimit)
			r.m.error(pb.ErrorCode_RATE_LIMITED)
			l.rateLimited()
			resp = l.errResp(id, &protocol.Error{Code: pb.ErrorCode_RATE_LIMITED, Detail: "request rate exceeded"})
		} else {
			var code pb.ErrorCode
			resp, code = l.handle(req)
			if code != pb.ErrorCode_OK {
				r.m.error(code)
			}
		}
		err = l.fw.write(resp)
		if errors.Is(err, errMemory) {
			// No room to queue the answer: say so in a few bytes.
			r.m.error(pb.ErrorCode_UNAVAILABLE)
			err = l.fw.write(l.errResp(peekRespID(resp), errMemory))
		}
		if l.afterWrite != nil {
			l.afterWrite()
		}
		if err != nil {
			return
		}
	}
}

// mailboxPerUnit is how many mailbox auths (each a signature to verify)
// cost one more rate unit, on mailbox and push streams alike.
const mailboxPerUnit = 16

// peekRespID returns a response's id.
func peekRespID(m proto.Message) uint64 {
	switch v := m.(type) {
	case *pb.MailboxResponse:
		return v.Id
	case *pb.RendezvousResponse:
		return v.Id
	}
	return 0
}
