package protocol

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol/pb"
)

var update = flag.Bool("update", false, "rewrite testdata/vectors.json from the builders in vectors_test.go")

const vectorsFile = "testdata/vectors.json"

// vectorFile is the JSON layout of testdata/vectors.json, shared with the
// relay and node tests (see docs/PROTOCOL.md, "Test vectors").
type vectorFile struct {
	Comment string   `json:"comment"`
	Vectors []vector `json:"vectors"`
}

// vector is one encoded message. Frame is the length-prefixed frame as sent
// on a stream (for gossip, the bare pubsub message); Message is the protobuf
// body alone. Error is empty for a valid message, else the ErrorCode name
// its decoder must return.
type vector struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Cap     int    `json:"cap"`
	Message string `json:"message"`
	Frame   string `json:"frame"`
	Error   string `json:"error,omitempty"`
}

// pattern returns n deterministic bytes starting at tag, so vectors are
// readable in hex and distinct per field.
func pattern(n int, tag byte) []byte {
	b := make([]byte, n)
	for i := range min(n, 256) {
		b[i] = tag + byte(i)
	}
	for filled := 256; filled < n; filled *= 2 {
		copy(b[filled:], b[:filled]) // the pattern repeats every 256 bytes
	}
	return b
}

// testKey is the deterministic mailbox key of vector i.
func testKey(i byte) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(pattern(ed25519.SeedSize, 0x40+i))
}

// testAuth returns a MailboxAuth that really verifies under challenge, so
// relay tests can run vectors through crypto.VerifyMailboxAuth.
func testAuth(i byte, op crypto.MailboxOp, challenge []byte) *pb.MailboxAuth {
	priv := testKey(i)
	id, sig := crypto.SignMailboxAuth(priv, op, challenge)
	return &pb.MailboxAuth{MailboxId: id[:], Pub: priv.Public().(ed25519.PublicKey), Sig: sig}
}

func testMailbox(i byte) []byte {
	id := crypto.MailboxIDFromPub(testKey(i).Public().(ed25519.PublicKey))
	return id[:]
}

type namedMsg struct {
	name string
	cap  int
	msg  proto.Message
	code pb.ErrorCode // OK for valid vectors
}

// validMessages is one valid instance of every request, response, gossip
// and peer frame body.
func validMessages() []namedMsg {
	ch := pattern(ChallengeSize, 0xc0)
	mb0, mb1 := testMailbox(0), testMailbox(1)
	blobID := pattern(BlobIDSize, 0xb0)
	item := pattern(ItemIDSize, 0x10)
	tok := func(tag byte, k pb.TokenKind) *pb.Token { return &pb.Token{Value: pattern(TokenSize, tag), Kind: k} }
	ann := []*pb.Announcement{
		{Tokens: []*pb.Token{tok(0x01, pb.TokenKind_HERE), tok(0x11, pb.TokenKind_NEAR), tok(0x21, pb.TokenKind_NEAR)}, SealedRecord: pattern(96, 0x70)},
		{Tokens: []*pb.Token{tok(0x31, pb.TokenKind_HERE)}, SealedRecord: pattern(64, 0x90)},
	}
	match := &pb.Match{Epoch: 2_950_000, Token: pattern(TokenSize, 0x01), SealedRecord: pattern(96, 0x75)}
	// The shared-record form Imigee nodes send: one record per Announce,
	// a 16-byte key share per friend.
	shared := []*pb.Announcement{
		{Tokens: []*pb.Token{tok(0x41, pb.TokenKind_HERE), tok(0x51, pb.TokenKind_NEAR)}, SealedRecord: pattern(16, 0x60)},
		{Tokens: []*pb.Token{tok(0x61, pb.TokenKind_HERE)}, SealedRecord: pattern(16, 0x68)},
	}
	sharedMatch := &pb.Match{Epoch: 2_950_000, Token: pattern(TokenSize, 0x41), SealedRecord: pattern(16, 0x60), SharedRecord: pattern(120, 0x77)}
	mreq := func(id uint64, b any) *pb.MailboxRequest {
		m := &pb.MailboxRequest{Id: id}
		switch b := b.(type) {
		case *pb.ChallengeRequest:
			m.Body = &pb.MailboxRequest_Challenge{Challenge: b}
		case *pb.Put:
			m.Body = &pb.MailboxRequest_Put{Put: b}
		case *pb.Fetch:
			m.Body = &pb.MailboxRequest_Fetch{Fetch: b}
		case *pb.Ack:
			m.Body = &pb.MailboxRequest_Ack{Ack: b}
		case *pb.Subscribe:
			m.Body = &pb.MailboxRequest_Subscribe{Subscribe: b}
		case *pb.Forget:
			m.Body = &pb.MailboxRequest_Forget{Forget: b}
		}
		return m
	}
	return []namedMsg{
		{"mailbox_request/challenge", MaxMailboxRequest, mreq(1, &pb.ChallengeRequest{}), 0},
		{"mailbox_request/put", MaxMailboxRequest, mreq(2, &pb.Put{MailboxId: mb0, Blob: pattern(300, 0x20)}), 0},
		{"mailbox_request/fetch", MaxMailboxRequest, mreq(3, &pb.Fetch{Challenge: ch, Auth: []*pb.MailboxAuth{testAuth(0, crypto.OpFetch, ch), testAuth(1, crypto.OpFetch, ch)}, MaxBlobs: 100, MaxBytes: 1 << 20, AfterBlobId: blobID}), 0},
		{"mailbox_request/ack", MaxMailboxRequest, mreq(4, &pb.Ack{Challenge: ch, Auth: []*pb.MailboxAuth{testAuth(0, crypto.OpAck, ch)}, Blobs: []*pb.BlobRef{{MailboxId: mb0, BlobId: blobID}}}), 0},
		{"mailbox_request/subscribe", MaxMailboxRequest, mreq(5, &pb.Subscribe{Challenge: ch, Auth: []*pb.MailboxAuth{testAuth(0, crypto.OpSubscribe, ch), testAuth(1, crypto.OpSubscribe, ch)}}), 0},
		{"mailbox_request/forget", MaxMailboxRequest, mreq(6, &pb.Forget{Challenge: ch, Auth: []*pb.MailboxAuth{testAuth(1, crypto.OpForget, ch)}}), 0},

		{"mailbox_response/challenge", MaxMailboxResponse, &pb.MailboxResponse{Id: 1, Body: &pb.MailboxResponse_Challenge{Challenge: &pb.Challenge{Nonce: ch, ExpiresUnix: 1_780_000_060}}}, 0},
		{"mailbox_response/put", MaxMailboxResponse, &pb.MailboxResponse{Id: 2, Body: &pb.MailboxResponse_Put{Put: &pb.PutResult{BlobId: blobID, ExpiresUnix: 1_782_592_000}}}, 0},
		{"mailbox_response/fetch", MaxMailboxResponse, &pb.MailboxResponse{Id: 3, Body: &pb.MailboxResponse_Fetch{Fetch: &pb.FetchResult{Blobs: []*pb.Blob{
			{MailboxId: mb0, BlobId: blobID, Data: pattern(300, 0x20), Size: 300, ReceivedUnix: 1_780_000_000},
			{MailboxId: mb1, BlobId: pattern(BlobIDSize, 0xb8), Size: 4096, ReceivedUnix: 1_780_000_100},
		}, More: true}}}, 0},
		{"mailbox_response/ack", MaxMailboxResponse, &pb.MailboxResponse{Id: 4, Body: &pb.MailboxResponse_Ack{Ack: &pb.AckResult{Deleted: 1}}}, 0},
		{"mailbox_response/subscribe", MaxMailboxResponse, &pb.MailboxResponse{Id: 5, Body: &pb.MailboxResponse_Subscribe{Subscribe: &pb.SubscribeResult{Pending: 2}}}, 0},
		{"mailbox_response/notify", MaxMailboxResponse, &pb.MailboxResponse{Body: &pb.MailboxResponse_Notify{Notify: &pb.Notify{MailboxId: mb0, BlobId: blobID, Size: 300}}}, 0},
		{"mailbox_response/forget", MaxMailboxResponse, &pb.MailboxResponse{Id: 6, Body: &pb.MailboxResponse_Forget{Forget: &pb.ForgetResult{Deleted: 7}}}, 0},
		{"mailbox_response/error", MaxMailboxResponse, &pb.MailboxResponse{Id: 7, Error: &pb.Error{Code: pb.ErrorCode_QUOTA_EXCEEDED, Detail: "mailbox quota"}}, 0},

		{"rendezvous_request/announce", MaxRendezvousRequest, &pb.RendezvousRequest{Id: 1, Body: &pb.RendezvousRequest_Announce{Announce: &pb.Announce{Epoch: 2_950_000, EpochSeconds: 600, Announcements: ann}}}, 0},
		{"rendezvous_request/withdraw", MaxRendezvousRequest, &pb.RendezvousRequest{Id: 2, Body: &pb.RendezvousRequest_Withdraw{Withdraw: &pb.Withdraw{}}}, 0},
		{"rendezvous_response/announce", MaxRendezvousResponse, &pb.RendezvousResponse{Id: 1, Body: &pb.RendezvousResponse_Announce{Announce: &pb.AnnounceResult{Accepted: 2, Matches: []*pb.Match{match}}}}, 0},
		{"rendezvous_response/match", MaxRendezvousResponse, &pb.RendezvousResponse{Body: &pb.RendezvousResponse_Match{Match: match}}, 0},
		{"rendezvous_response/withdraw", MaxRendezvousResponse, &pb.RendezvousResponse{Id: 2, Body: &pb.RendezvousResponse_Withdraw{Withdraw: &pb.WithdrawResult{Dropped: 2}}}, 0},
		{"rendezvous_response/error", MaxRendezvousResponse, &pb.RendezvousResponse{Id: 3, Error: &pb.Error{Code: pb.ErrorCode_STALE, Detail: "epoch outside window"}}, 0},

		{"gossip/announce", MaxGossipMessage, &pb.RendezvousGossip{Origin: pattern(OriginSize, 0xa0), Epoch: 2_950_000, EpochSeconds: 600, Announcements: ann}, 0},
		{"gossip/announce_shared", MaxGossipMessage, &pb.RendezvousGossip{Origin: pattern(OriginSize, 0xa0), Epoch: 2_950_000, EpochSeconds: 600, Announcements: shared, SharedRecord: pattern(120, 0x77)}, 0},
		{"rendezvous_request/announce_shared", MaxRendezvousRequest, &pb.RendezvousRequest{Id: 2, Body: &pb.RendezvousRequest_Announce{Announce: &pb.Announce{Epoch: 2_950_000, EpochSeconds: 600, Announcements: shared, SharedRecord: pattern(120, 0x77)}}}, 0},
		{"rendezvous_response/match_shared", MaxRendezvousResponse, &pb.RendezvousResponse{Body: &pb.RendezvousResponse_Match{Match: sharedMatch}}, 0},
		{"gossip/withdraw", MaxGossipMessage, &pb.RendezvousGossip{Origin: pattern(OriginSize, 0xa0), Withdraw: true}, 0},
		{"rendezvous_request/late_announce", MaxRendezvousRequest, &pb.RendezvousRequest{Id: 3, Body: &pb.RendezvousRequest_LateAnnounce{LateAnnounce: &pb.Announce{Epoch: 2_949_900, EpochSeconds: 600, Announcements: shared, SharedRecord: pattern(120, 0x77), ForgetTag: pattern(ForgetSecretSize, 0xf0)}}}, 0},
		{"rendezvous_request/history_forget", MaxRendezvousRequest, &pb.RendezvousRequest{Id: 4, Body: &pb.RendezvousRequest_HistoryForget{HistoryForget: &pb.HistoryForget{Secrets: []*pb.ForgetSecret{{Epoch: 2_949_900, Secret: pattern(ForgetSecretSize, 0xf8)}, {Epoch: 2_949_901, Secret: pattern(ForgetSecretSize, 0xe8)}}}}}, 0},
		{"rendezvous_response/history_forget", MaxRendezvousResponse, &pb.RendezvousResponse{Id: 4, Body: &pb.RendezvousResponse_HistoryForget{HistoryForget: &pb.HistoryForgetResult{Erased: 5}}}, 0},
		{"gossip/late_announce", MaxGossipMessage, &pb.RendezvousGossip{Origin: pattern(OriginSize, 0xa0), Epoch: 2_949_900, EpochSeconds: 600, Announcements: shared, SharedRecord: pattern(120, 0x77), Late: true, ForgetTag: pattern(ForgetSecretSize, 0xf0)}, 0},
		{"gossip/forget", MaxGossipMessage, &pb.RendezvousGossip{Origin: pattern(OriginSize, 0xa0), Forget: []*pb.ForgetSecret{{Epoch: 2_949_900, Secret: pattern(ForgetSecretSize, 0xf8)}}}, 0},
		{"gossip_batch/announce_withdraw_forget", MaxGossipMessage, &pb.RendezvousGossipBatch{Items: []*pb.RendezvousGossip{
			{Origin: pattern(OriginSize, 0xa0), Epoch: 2_950_000, EpochSeconds: 600, Announcements: shared, SharedRecord: pattern(120, 0x77)},
			{Origin: pattern(OriginSize, 0xb0), Withdraw: true},
			{Origin: pattern(OriginSize, 0xc0), Forget: []*pb.ForgetSecret{{Epoch: 2_949_900, Secret: pattern(ForgetSecretSize, 0xf8)}}},
		}}, 0},

		{"link_request", MaxLinkFrame, &pb.LinkRequest{InviteId: pattern(InviteIDSize, 0x50), Sealed: pattern(200, 0x60)}, 0},
		{"link_response/sealed", MaxLinkFrame, &pb.LinkResponse{Sealed: pattern(180, 0x68)}, 0},
		{"link_response/error", MaxLinkFrame, &pb.LinkResponse{Error: &pb.Error{Code: pb.ErrorCode_NOT_FOUND, Detail: "unknown invite"}}, 0},

		{"peer_frame/hello", MaxShareFrame, &pb.PeerFrame{Body: &pb.PeerFrame_Hello{Hello: &pb.Hello{PairHint: pattern(PairHintSize, 0x80), Epoch: 2_950_000, Nonce: pattern(HelloNonceSize, 0x88), Proof: pattern(HelloProofSize, 0x98)}}}, 0},
		{"peer_frame/offer", MaxShareFrame, &pb.PeerFrame{Body: &pb.PeerFrame_Offer{Offer: &pb.Offer{ItemId: item, Sealed: pattern(512, 0x30)}}}, 0},
		{"peer_frame/offer_reply", MaxShareFrame, &pb.PeerFrame{Body: &pb.PeerFrame_OfferReply{OfferReply: &pb.OfferReply{ItemId: item, Accept: true, FromChunk: 3}}}, 0},
		{"peer_frame/chunk", MaxShareFrame, &pb.PeerFrame{Body: &pb.PeerFrame_Chunk{Chunk: &pb.Chunk{ItemId: item, Index: 3, Data: pattern(1024, 0x00)}}}, 0},
		{"peer_frame/receipt", MaxShareFrame, &pb.PeerFrame{Body: &pb.PeerFrame_Receipt{Receipt: &pb.Receipt{ItemId: item, Sig: pattern(SignatureSize, 0xd0)}}}, 0},
		{"peer_frame/resume", MaxShareFrame, &pb.PeerFrame{Body: &pb.PeerFrame_Resume{Resume: &pb.Resume{ItemId: item, FromChunk: 5}}}, 0},
		{"peer_frame/envelope", MaxShareFrame, &pb.PeerFrame{Body: &pb.PeerFrame_Envelope{Envelope: &pb.Envelope{Sealed: pattern(256, 0xe0)}}}, 0},
		{"peer_frame/error", MaxShareFrame, &pb.PeerFrame{Body: &pb.PeerFrame_Error{Error: &pb.Error{Code: pb.ErrorCode_REJECTED}}}, 0},
	}
}

// invalidMessages are decodable messages that their Validate function must
// reject with the given code; relay and node tests use them to check that a
// bad request gets the right error.
func invalidMessages() []namedMsg {
	ch := pattern(ChallengeSize, 0xc0)
	item := pattern(ItemIDSize, 0x10)
	return []namedMsg{
		{"invalid/mailbox_request/zero_id", MaxMailboxRequest, &pb.MailboxRequest{Body: &pb.MailboxRequest_Challenge{Challenge: &pb.ChallengeRequest{}}}, badRequest},
		{"invalid/mailbox_request/no_body", MaxMailboxRequest, &pb.MailboxRequest{Id: 1}, unsupported},
		{"invalid/mailbox_request/put_short_mailbox", MaxMailboxRequest, &pb.MailboxRequest{Id: 1, Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: pattern(15, 0), Blob: []byte{1}}}}, badRequest},
		{"invalid/mailbox_request/put_empty_blob", MaxMailboxRequest, &pb.MailboxRequest{Id: 1, Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: testMailbox(0)}}}, badRequest},
		{"invalid/mailbox_request/fetch_no_auth", MaxMailboxRequest, &pb.MailboxRequest{Id: 1, Body: &pb.MailboxRequest_Fetch{Fetch: &pb.Fetch{Challenge: ch}}}, badRequest},
		{"invalid/mailbox_request/fetch_duplicate_auth", MaxMailboxRequest, &pb.MailboxRequest{Id: 1, Body: &pb.MailboxRequest_Fetch{Fetch: &pb.Fetch{Challenge: ch, Auth: []*pb.MailboxAuth{testAuth(0, crypto.OpFetch, ch), testAuth(0, crypto.OpFetch, ch)}}}}, badRequest},
		{"invalid/mailbox_request/ack_uncovered", MaxMailboxRequest, &pb.MailboxRequest{Id: 1, Body: &pb.MailboxRequest_Ack{Ack: &pb.Ack{Challenge: ch, Auth: []*pb.MailboxAuth{testAuth(0, crypto.OpAck, ch)}, Blobs: []*pb.BlobRef{{MailboxId: testMailbox(1), BlobId: pattern(BlobIDSize, 0xb0)}}}}}, badRequest},
		{"invalid/mailbox_response/error_and_body", MaxMailboxResponse, &pb.MailboxResponse{Id: 1, Error: &pb.Error{Code: pb.ErrorCode_INTERNAL}, Body: &pb.MailboxResponse_Ack{Ack: &pb.AckResult{}}}, badRequest},
		{"invalid/mailbox_response/notify_with_id", MaxMailboxResponse, &pb.MailboxResponse{Id: 9, Body: &pb.MailboxResponse_Notify{Notify: &pb.Notify{MailboxId: testMailbox(0), BlobId: pattern(BlobIDSize, 0xb0), Size: 1}}}, badRequest},
		{"invalid/rendezvous_request/long_record", MaxRendezvousRequest, &pb.RendezvousRequest{Id: 1, Body: &pb.RendezvousRequest_Announce{Announce: &pb.Announce{Epoch: 1, EpochSeconds: 600, Announcements: []*pb.Announcement{{Tokens: []*pb.Token{{Value: pattern(TokenSize, 1)}}, SealedRecord: pattern(MaxSealedRecord+1, 0)}}}}}, tooLarge},
		{"invalid/rendezvous_request/short_token", MaxRendezvousRequest, &pb.RendezvousRequest{Id: 1, Body: &pb.RendezvousRequest_Announce{Announce: &pb.Announce{Epoch: 1, EpochSeconds: 600, Announcements: []*pb.Announcement{{Tokens: []*pb.Token{{Value: pattern(7, 1)}}, SealedRecord: []byte{1}}}}}}, badRequest},
		{"invalid/rendezvous_request/epoch_seconds", MaxRendezvousRequest, &pb.RendezvousRequest{Id: 1, Body: &pb.RendezvousRequest_Announce{Announce: &pb.Announce{Epoch: 1, EpochSeconds: 5, Announcements: []*pb.Announcement{{Tokens: []*pb.Token{{Value: pattern(TokenSize, 1)}}, SealedRecord: []byte{1}}}}}}, badRequest},
		{"invalid/gossip/withdraw_with_announcements", MaxGossipMessage, &pb.RendezvousGossip{Origin: pattern(OriginSize, 0xa0), Withdraw: true, Announcements: []*pb.Announcement{{Tokens: []*pb.Token{{Value: pattern(TokenSize, 1)}}, SealedRecord: []byte{1}}}}, badRequest},
		{"invalid/rendezvous_request/short_forget_tag", MaxRendezvousRequest, &pb.RendezvousRequest{Id: 1, Body: &pb.RendezvousRequest_LateAnnounce{LateAnnounce: &pb.Announce{Epoch: 1, EpochSeconds: 600, ForgetTag: pattern(31, 0), Announcements: []*pb.Announcement{{Tokens: []*pb.Token{{Value: pattern(TokenSize, 1)}}, SealedRecord: []byte{1}}}}}}, badRequest},
		{"invalid/rendezvous_request/history_forget_empty", MaxRendezvousRequest, &pb.RendezvousRequest{Id: 1, Body: &pb.RendezvousRequest_HistoryForget{HistoryForget: &pb.HistoryForget{}}}, badRequest},
		{"invalid/rendezvous_request/history_forget_zero_epoch", MaxRendezvousRequest, &pb.RendezvousRequest{Id: 1, Body: &pb.RendezvousRequest_HistoryForget{HistoryForget: &pb.HistoryForget{Secrets: []*pb.ForgetSecret{{Secret: pattern(ForgetSecretSize, 1)}}}}}, badRequest},
		{"invalid/gossip_batch/empty", MaxGossipMessage, &pb.RendezvousGossipBatch{}, badRequest},
		{"invalid/gossip_batch/bad_item", MaxGossipMessage, &pb.RendezvousGossipBatch{Items: []*pb.RendezvousGossip{{Origin: pattern(OriginSize, 0xa0), Withdraw: true}, {Origin: pattern(OriginSize-1, 0xa0), Withdraw: true}}}, badRequest},
		{"invalid/gossip/forget_with_announcements", MaxGossipMessage, &pb.RendezvousGossip{Origin: pattern(OriginSize, 0xa0), Epoch: 1, EpochSeconds: 600, Forget: []*pb.ForgetSecret{{Epoch: 1, Secret: pattern(ForgetSecretSize, 1)}}, Announcements: []*pb.Announcement{{Tokens: []*pb.Token{{Value: pattern(TokenSize, 1)}}, SealedRecord: []byte{1}}}}, badRequest},
		{"invalid/link_request/empty_sealed", MaxLinkFrame, &pb.LinkRequest{InviteId: pattern(InviteIDSize, 0x50)}, badRequest},
		{"invalid/peer_frame/no_body", MaxShareFrame, &pb.PeerFrame{}, unsupported},
		{"invalid/peer_frame/chunk_short_item", MaxShareFrame, &pb.PeerFrame{Body: &pb.PeerFrame_Chunk{Chunk: &pb.Chunk{ItemId: item[:8], Data: []byte{1}}}}, badRequest},
		{"invalid/peer_frame/error_detail_too_long", MaxShareFrame, &pb.PeerFrame{Body: &pb.PeerFrame_Error{Error: &pb.Error{Code: pb.ErrorCode_INTERNAL, Detail: string(bytes.Repeat([]byte("x"), MaxErrorDetail+1))}}}, tooLarge},
		{"invalid/peer_frame/error_ok", MaxShareFrame, &pb.PeerFrame{Body: &pb.PeerFrame_Error{Error: &pb.Error{}}}, badRequest},
	}
}

// decoderFor returns a fresh message and the decode function (frame reader
// + Validate, or DecodeGossip on the bare message) for a vector type.
func decoderFor(t testing.TB, typ string) (proto.Message, func(frame []byte, m proto.Message) error) {
	t.Helper()
	type readFn = func(frame []byte, m proto.Message) error
	wrap := func(f func(r *bytes.Reader, m proto.Message) error) readFn {
		return func(frame []byte, m proto.Message) error { return f(bytes.NewReader(frame), m) }
	}
	switch typ {
	case "imigee.v1.MailboxRequest":
		return &pb.MailboxRequest{}, wrap(func(r *bytes.Reader, m proto.Message) error { return ReadMailboxRequest(r, m.(*pb.MailboxRequest)) })
	case "imigee.v1.MailboxResponse":
		return &pb.MailboxResponse{}, wrap(func(r *bytes.Reader, m proto.Message) error { return ReadMailboxResponse(r, m.(*pb.MailboxResponse)) })
	case "imigee.v1.RendezvousRequest":
		return &pb.RendezvousRequest{}, wrap(func(r *bytes.Reader, m proto.Message) error {
			return ReadRendezvousRequest(r, m.(*pb.RendezvousRequest))
		})
	case "imigee.v1.RendezvousResponse":
		return &pb.RendezvousResponse{}, wrap(func(r *bytes.Reader, m proto.Message) error {
			return ReadRendezvousResponse(r, m.(*pb.RendezvousResponse))
		})
	case "imigee.v1.RendezvousGossip":
		return &pb.RendezvousGossip{}, func(b []byte, m proto.Message) error { return DecodeGossip(b, m.(*pb.RendezvousGossip)) }
	case "imigee.v1.RendezvousGossipBatch":
		return &pb.RendezvousGossipBatch{}, func(b []byte, m proto.Message) error {
			return DecodeGossipBatch(b, m.(*pb.RendezvousGossipBatch))
		}
	case "imigee.v1.LinkRequest":
		return &pb.LinkRequest{}, wrap(func(r *bytes.Reader, m proto.Message) error { return ReadLinkRequest(r, m.(*pb.LinkRequest)) })
	case "imigee.v1.LinkResponse":
		return &pb.LinkResponse{}, wrap(func(r *bytes.Reader, m proto.Message) error { return ReadLinkResponse(r, m.(*pb.LinkResponse)) })
	case "imigee.v1.PeerFrame":
		return &pb.PeerFrame{}, wrap(func(r *bytes.Reader, m proto.Message) error { return ReadPeerFrame(r, m.(*pb.PeerFrame)) })
	}
	t.Fatalf("no decoder for %s", typ)
	return nil, nil
}

func isGossip(typ string) bool {
	return typ == "imigee.v1.RendezvousGossip" || typ == "imigee.v1.RendezvousGossipBatch"
}

func buildVectors(t testing.TB) vectorFile {
	t.Helper()
	vf := vectorFile{Comment: "Imigee wire vectors, generated by `go test ./protocol -run TestVectors -update`. " +
		"message: hex protobuf body; frame: hex uvarint length + body as sent on a stream (gossip: the bare pubsub message); " +
		"error: the ErrorCode the decoder (ReadMsg + Validate) must return, absent for valid vectors. See docs/PROTOCOL.md."}
	for _, nm := range append(validMessages(), invalidMessages()...) {
		body, err := marshalOpts.Marshal(nm.msg)
		if err != nil {
			t.Fatalf("%s: %v", nm.name, err)
		}
		typ := string(nm.msg.ProtoReflect().Descriptor().FullName())
		frame := body
		if !isGossip(typ) {
			var buf bytes.Buffer
			if err := WriteMsg(&buf, nm.msg); err != nil {
				t.Fatal(err)
			}
			frame = buf.Bytes()
		}
		v := vector{Name: nm.name, Type: typ, Cap: nm.cap, Message: hex.EncodeToString(body), Frame: hex.EncodeToString(frame)}
		if nm.code != pb.ErrorCode_OK {
			v.Error = nm.code.String()
		}
		vf.Vectors = append(vf.Vectors, v)
	}
	return vf
}

func loadVectors(t testing.TB) vectorFile {
	t.Helper()
	data, err := os.ReadFile(vectorsFile)
	if err != nil {
		t.Fatalf("read vectors (run with -update to create): %v", err)
	}
	var vf vectorFile
	if err := json.Unmarshal(data, &vf); err != nil {
		t.Fatalf("parse vectors: %v", err)
	}
	return vf
}

// TestVectors checks that every vector in testdata decodes (frame reader +
// Validate) to the expected result and that valid ones re-encode to the
// same bytes; with -update it rewrites the file from the builders above.
func TestVectors(t *testing.T) {
	if *update {
		vf := buildVectors(t)
		data, err := json.MarshalIndent(vf, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Dir(vectorsFile), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(vectorsFile, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	vf := loadVectors(t)
	built := buildVectors(t)
	if len(vf.Vectors) != len(built.Vectors) {
		t.Fatalf("testdata has %d vectors, builders %d: run with -update", len(vf.Vectors), len(built.Vectors))
	}
	for i, v := range vf.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			if b := built.Vectors[i]; b != v {
				t.Fatalf("testdata differs from builder %s: run with -update if the change is intended", b.Name)
			}
			frame, err := hex.DecodeString(v.Frame)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := hex.DecodeString(v.Message)
			m, decode := decoderFor(t, v.Type)
			err = decode(frame, m)
			if v.Error != "" {
				if got := Code(err); got.String() != v.Error {
					t.Fatalf("decode: got %v (%v), want %s", got, err, v.Error)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			again, err := marshalOpts.Marshal(m)
			if err != nil || !bytes.Equal(again, body) {
				t.Fatalf("re-encode differs: %x", again)
			}
			if len(body) > v.Cap {
				t.Fatalf("body %d exceeds cap %d", len(body), v.Cap)
			}
		})
	}
}

// TestVectorAuthsVerify proves the mailbox auths in the vectors are real
// signatures, so relay tests can use them end to end.
func TestVectorAuthsVerify(t *testing.T) {
	for _, nm := range validMessages() {
		req, ok := nm.msg.(*pb.MailboxRequest)
		if !ok {
			continue
		}
		var ch []byte
		var auths []*pb.MailboxAuth
		var op crypto.MailboxOp
		switch b := req.Body.(type) {
		case *pb.MailboxRequest_Fetch:
			ch, auths, op = b.Fetch.Challenge, b.Fetch.Auth, crypto.OpFetch
		case *pb.MailboxRequest_Ack:
			ch, auths, op = b.Ack.Challenge, b.Ack.Auth, crypto.OpAck
		case *pb.MailboxRequest_Subscribe:
			ch, auths, op = b.Subscribe.Challenge, b.Subscribe.Auth, crypto.OpSubscribe
		case *pb.MailboxRequest_Forget:
			ch, auths, op = b.Forget.Challenge, b.Forget.Auth, crypto.OpForget
		}
		for _, a := range auths {
			if err := crypto.VerifyMailboxAuth(op, ch, crypto.MailboxID(a.MailboxId), a.Pub, a.Sig); err != nil {
				t.Errorf("%s: %v", nm.name, err)
			}
		}
	}
}
