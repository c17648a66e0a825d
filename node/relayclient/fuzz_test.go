package relayclient

import (
	"bytes"
	"testing"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

func frame(m *pb.MailboxResponse) []byte {
	var b bytes.Buffer
	protocol.WriteMsg(&b, m)
	return b.Bytes()
}

// FuzzMailboxResponse feeds arbitrary bytes through the client's decoding
// path for relay answers: framing, validation, conversion. Whatever passes
// validation must convert without panicking.
func FuzzMailboxResponse(f *testing.F) {
	id16 := bytes.Repeat([]byte{1}, 16)
	f.Add(frame(&pb.MailboxResponse{Id: 1, Body: &pb.MailboxResponse_Fetch{Fetch: &pb.FetchResult{Blobs: []*pb.Blob{{MailboxId: id16, BlobId: id16, Data: []byte("x"), Size: 1, ReceivedUnix: 1}}}}}))
	f.Add(frame(&pb.MailboxResponse{Body: &pb.MailboxResponse_Notify{Notify: &pb.Notify{MailboxId: id16, BlobId: id16, Size: 3}}}))
	f.Add(frame(&pb.MailboxResponse{Id: 2, Body: &pb.MailboxResponse_Put{Put: &pb.PutResult{BlobId: id16, ExpiresUnix: 5}}}))
	f.Add(frame(&pb.MailboxResponse{Id: 3, Error: &pb.Error{Code: pb.ErrorCode_QUOTA_EXCEEDED, Detail: "full"}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &pb.MailboxResponse{}
		if err := protocol.ReadMsg(bytes.NewReader(data), m, protocol.MaxMailboxResponse); err != nil {
			return
		}
		if err := protocol.ValidateMailboxResponse(m); err != nil {
			return
		}
		_ = protocol.FromPB(m.Error)
		if fr := m.GetFetch(); fr != nil {
			blobsFromPB(fr)
		}
		if n := m.GetNotify(); n != nil {
			notifyFromPB(n)
		}
		if p := m.GetPut(); p != nil {
			_ = BlobID(p.BlobId)
		}
	})
}

// FuzzRendezvousResponse does the same for rendezvous answers and pushes.
func FuzzRendezvousResponse(f *testing.F) {
	var b bytes.Buffer
	protocol.WriteMsg(&b, &pb.RendezvousResponse{Body: &pb.RendezvousResponse_Match{Match: &pb.Match{Epoch: 1, Token: make([]byte, 8), SealedRecord: []byte("r")}}})
	f.Add(b.Bytes())
	b.Reset()
	protocol.WriteMsg(&b, &pb.RendezvousResponse{Id: 1, Body: &pb.RendezvousResponse_Announce{Announce: &pb.AnnounceResult{Accepted: 1, Matches: []*pb.Match{{Epoch: 1, Token: make([]byte, 8), SealedRecord: []byte("r")}}}}})
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &pb.RendezvousResponse{}
		if err := protocol.ReadMsg(bytes.NewReader(data), m, protocol.MaxRendezvousResponse); err != nil {
			return
		}
		if err := protocol.ValidateRendezvousResponse(m); err != nil {
			return
		}
		if mt := m.GetMatch(); mt != nil {
			matchFromPB(mt)
		}
		for _, mt := range m.GetAnnounce().GetMatches() {
			matchFromPB(mt)
		}
	})
}
