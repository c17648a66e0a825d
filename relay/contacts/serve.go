package contacts

// The stream's request loop: framing, deadlines, rate charging and memory
// reservation before decoding, the same order as the relay's own services
// (relay/serve.go).

import (
	"errors"
	"io"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// Limits are the relay's per-connection limits a stream is served under.
// Zero fields are off (tests of the service alone).
type Limits struct {
	// Account reserves the request frame buffers and each encoded response
	// before they are allocated (the relay's memory budget, charged to the
	// connection and its source). A refused frame ends the stream with an
	// id-0 UNAVAILABLE; a refused response is answered UNAVAILABLE.
	Account protocol.Account
	// Allow charges n units to the connection's request rate limiter;
	// false = over the rate. Each frame is charged before it is decoded:
	// one unit plus one per 64 KiB, then one per ElementsPerUnit repeated
	// elements (each is an OPRF evaluation or an entry to look up). A
	// frame over the rate is answered RATE_LIMITED, not decoded, and the
	// stream stays.
	Allow func(n int) bool
}

// ElementsPerUnit is how many repeated elements of a request cost one
// more rate unit: 64.
const ElementsPerUnit = 64

var reqDesc = (&pb.ContactsRequest{}).ProtoReflect().Descriptor()

// Serve runs the request loop of one stream with no relay limits (tests).
func (s *Service) Serve(st Stream, remote Remote) { s.ServeLimited(st, remote, Limits{}) }

// ServeLimited runs the request loop of one stream until the peer closes
// it, a frame or request is invalid (answered with id 0 and the code, then
// the stream ends), or a deadline passes: a stream may sit idle for
// IdleTimeout between frames, and a frame once started must arrive within
// ReadTimeout. Challenges are bound to the stream and used once.
func (s *Service) ServeLimited(st Stream, remote Remote, lim Limits) {
	ss := &stream{s: s, st: st, remote: remote, lim: lim, challenges: map[[protocol.ChallengeSize]byte]time.Time{}}
	rd := protocol.NewReader(st, protocol.MaxContactsRequest)
	if lim.Account != nil {
		rd.SetAccount(lim.Account)
		defer rd.Release()
	}
	allow := lim.Allow
	if allow == nil {
		allow = func(int) bool { return true }
	}
	for {
		_ = st.SetReadDeadline(time.Now().Add(s.cfg.IdleTimeout))
		err := rd.WaitFrame()
		if err == nil {
			_ = st.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
		}
		req := &pb.ContactsRequest{}
		limited := false
		var id uint64
		if err == nil {
			err = rd.ReadFrameFunc(func(body []byte) error {
				if !allow(1 + len(body)>>16) {
					limited, id = true, protocol.PeekID(body)
					return nil
				}
				n, err := protocol.Scan(body, reqDesc)
				if err != nil {
					return err
				}
				if n >= ElementsPerUnit && !allow(n/ElementsPerUnit) {
					limited, id = true, protocol.PeekID(body)
					return nil
				}
				return protocol.Unmarshal(body, req)
			})
		}
		if err == nil && !limited {
			err = protocol.ValidateContactsRequest(req)
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				ss.write(&pb.ContactsResponse{Error: protocol.ToPB(err)})
			}
			return
		}
		var resp *pb.ContactsResponse
		if limited {
			ss.s.count(func(st *Stats) { st.RateLimited++ })
			resp = errResp(pb.ErrorCode_RATE_LIMITED, "request rate exceeded")
			resp.Id = id
		} else {
			resp = ss.handle(req)
			resp.Id = req.Id
		}
		if !ss.write(resp) {
			return
		}
	}
}

// write sends m under the write deadline, its encoded frame reserved with
// the account first (a response that does not fit is replaced by a short
// UNAVAILABLE). False if the stream failed.
func (ss *stream) write(m *pb.ContactsResponse) bool {
	if a := ss.lim.Account; a != nil {
		n := proto.Size(m)
		n += protowire.SizeVarint(uint64(n))
		if err := a.Reserve(n); err != nil {
			m = &pb.ContactsResponse{Id: m.Id, Error: protocol.ToPB(err)}
		} else {
			defer a.Release(n)
		}
	}
	_ = ss.st.SetWriteDeadline(time.Now().Add(ss.s.cfg.WriteTimeout))
	return protocol.WriteMsg(ss.st, m) == nil
}
