package protocol

import (
	"math"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/protocol/pb"
)

// validate dispatches to the Validate function of m's type.
func validate(m proto.Message) error {
	switch m := m.(type) {
	case *pb.MailboxRequest:
		return ValidateMailboxRequest(m)
	case *pb.MailboxResponse:
		return ValidateMailboxResponse(m)
	case *pb.RendezvousRequest:
		return ValidateRendezvousRequest(m)
	case *pb.RendezvousResponse:
		return ValidateRendezvousResponse(m)
	case *pb.RendezvousGossip:
		return ValidateGossip(m)
	case *pb.RendezvousGossipBatch:
		return ValidateGossipBatch(m)
	case *pb.LinkRequest:
		return ValidateLinkRequest(m)
	case *pb.LinkResponse:
		return ValidateLinkResponse(m)
	case *pb.PeerFrame:
		return ValidatePeerFrame(m)
	}
	panic("no validator")
}

func maxAnnouncements(tokensEach int) []*pb.Announcement {
	as := make([]*pb.Announcement, MaxAnnouncements)
	for i := range as {
		ts := make([]*pb.Token, tokensEach)
		for j := range ts {
			ts[j] = &pb.Token{Value: pattern(TokenSize, byte(j)), Kind: pb.TokenKind_NEAR}
		}
		as[i] = &pb.Announcement{Tokens: ts, SealedRecord: pattern(MaxSealedRecord, byte(i))}
	}
	return as
}

// TestLargestValidFitsCap builds the largest message each Validate accepts
// (every field at its cap, integers at their longest encoding) and checks it
// fits its stream's frame cap, so a valid message is never refused by the
// frame reader.
func TestLargestValidFitsCap(t *testing.T) {
	const maxID = math.MaxUint64
	auths := func() []*pb.MailboxAuth {
		as := make([]*pb.MailboxAuth, MaxAuthsPerRequest)
		for i := range as {
			id := pattern(MailboxIDSize, 0)
			id[0], id[1] = byte(i), byte(i>>8)
			as[i] = &pb.MailboxAuth{MailboxId: id, Pub: pattern(PublicKeySize, 0), Sig: pattern(SignatureSize, 0)}
		}
		return as
	}
	ackAuths := auths()
	refs := make([]*pb.BlobRef, MaxBlobRefsPerAck)
	for i := range refs {
		refs[i] = &pb.BlobRef{MailboxId: ackAuths[i].MailboxId, BlobId: pattern(BlobIDSize, 0)}
	}
	fullBlobs := MaxFetchBytes / MaxBlobSize
	blobs := make([]*pb.Blob, MaxBlobsPerFetch)
	for i := range blobs {
		blobs[i] = &pb.Blob{MailboxId: pattern(16, 0), BlobId: pattern(16, 0), Size: MaxBlobSize, ReceivedUnix: math.MinInt64}
		if i < fullBlobs {
			blobs[i].Data = pattern(MaxBlobSize, 0)
		}
	}
	matches := make([]*pb.Match, MaxMatchesPerResult)
	for i := range matches {
		matches[i] = &pb.Match{Epoch: math.MaxUint64, Token: pattern(TokenSize, 0), SealedRecord: pattern(MaxSealedRecord, 0)}
	}
	per := MaxTokensPerAnnounce / MaxAnnouncements
	maxSecrets := func() []*pb.ForgetSecret {
		ss := make([]*pb.ForgetSecret, MaxForgetSecrets)
		for i := range ss {
			ss[i] = &pb.ForgetSecret{Epoch: math.MaxUint64, Secret: pattern(ForgetSecretSize, 3)}
		}
		return ss
	}
	cases := []struct {
		name string
		cap  int
		m    proto.Message
	}{
		{"put", MaxMailboxRequest, &pb.MailboxRequest{Id: maxID, Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: pattern(16, 0), Blob: pattern(MaxBlobSize, 0)}}}},
		{"fetch", MaxMailboxSmallRequest, &pb.MailboxRequest{Id: maxID, Body: &pb.MailboxRequest_Fetch{Fetch: &pb.Fetch{Challenge: pattern(32, 0), Auth: auths(), MaxBlobs: math.MaxUint32, MaxBytes: math.MaxUint64, IdsOnly: true, AfterBlobId: pattern(16, 0)}}}},
		{"ack", MaxMailboxSmallRequest, &pb.MailboxRequest{Id: maxID, Body: &pb.MailboxRequest_Ack{Ack: &pb.Ack{Challenge: pattern(32, 0), Auth: ackAuths, Blobs: refs}}}},
		{"fetch result", MaxMailboxResponse, &pb.MailboxResponse{Id: maxID, Body: &pb.MailboxResponse_Fetch{Fetch: &pb.FetchResult{Blobs: blobs, More: true}}}},
		{"mailbox error", MaxMailboxResponse, &pb.MailboxResponse{Id: maxID, Error: &pb.Error{Code: pb.ErrorCode_UNSUPPORTED, Detail: strings.Repeat("x", MaxErrorDetail)}}},
		{"announce", MaxRendezvousRequest, &pb.RendezvousRequest{Id: maxID, Body: &pb.RendezvousRequest_Announce{Announce: &pb.Announce{Epoch: math.MaxUint64, EpochSeconds: MaxEpochSeconds, Announcements: maxAnnouncements(per), SharedRecord: pattern(MaxSealedRecord, 1)}}}},
		{"late announce", MaxRendezvousRequest, &pb.RendezvousRequest{Id: maxID, Body: &pb.RendezvousRequest_LateAnnounce{LateAnnounce: &pb.Announce{Epoch: math.MaxUint64, EpochSeconds: MaxEpochSeconds, Announcements: maxAnnouncements(per), SharedRecord: pattern(MaxSealedRecord, 1), ForgetTag: pattern(ForgetSecretSize, 2)}}}},
		{"history forget", MaxRendezvousForgetRequest, &pb.RendezvousRequest{Id: maxID, Body: &pb.RendezvousRequest_HistoryForget{HistoryForget: &pb.HistoryForget{Secrets: maxSecrets()}}}},
		{"withdraw", MaxRendezvousSmallRequest, &pb.RendezvousRequest{Id: maxID, Body: &pb.RendezvousRequest_Withdraw{Withdraw: &pb.Withdraw{}}}},
		{"challenge", MaxMailboxSmallRequest, &pb.MailboxRequest{Id: maxID, Body: &pb.MailboxRequest_Challenge{Challenge: &pb.ChallengeRequest{}}}},
		{"announce result", MaxRendezvousResponse, &pb.RendezvousResponse{Id: maxID, Body: &pb.RendezvousResponse_Announce{Announce: &pb.AnnounceResult{Accepted: MaxTokensPerAnnounce, Matches: matches}}}},
		{"gossip", MaxGossipMessage, &pb.RendezvousGossip{Origin: pattern(16, 0), Epoch: math.MaxUint64, EpochSeconds: MaxEpochSeconds, Announcements: maxAnnouncements(per), SharedRecord: pattern(MaxSealedRecord, 1)}},
		{"link request", MaxLinkFrame, &pb.LinkRequest{InviteId: pattern(16, 0), Sealed: pattern(MaxSealedLink, 0)}},
		{"link response", MaxLinkFrame, &pb.LinkResponse{Sealed: pattern(MaxSealedLink, 0)}},
		{"chunk", MaxShareFrame, &pb.PeerFrame{Body: &pb.PeerFrame_Chunk{Chunk: &pb.Chunk{ItemId: pattern(16, 0), Index: math.MaxUint32, Data: pattern(MaxSealedChunk, 0)}}}},
		{"offer", MaxShareFrame, &pb.PeerFrame{Body: &pb.PeerFrame_Offer{Offer: &pb.Offer{ItemId: pattern(16, 0), Sealed: pattern(MaxSealedOffer, 0)}}}},
		{"envelope", MaxShareFrame, &pb.PeerFrame{Body: &pb.PeerFrame_Envelope{Envelope: &pb.Envelope{Sealed: pattern(MaxSealedEnvelope, 0)}}}},
	}
	for _, c := range cases {
		if err := validate(c.m); err != nil {
			t.Errorf("%s: not valid: %v", c.name, err)
			continue
		}
		size := proto.Size(c.m)
		t.Logf("%-16s %8d of %8d bytes (%.0f%%)", c.name, size, c.cap, 100*float64(size)/float64(c.cap))
		if size > c.cap {
			t.Errorf("%s: %d bytes exceed the cap %d", c.name, size, c.cap)
		}
	}
}

// TestValidateRejects walks the branches of every validator with one bad
// field each and checks the code.
func TestValidateRejects(t *testing.T) {
	ch := pattern(ChallengeSize, 0)
	auth := &pb.MailboxAuth{MailboxId: pattern(16, 0), Pub: pattern(32, 0), Sig: pattern(64, 0)}
	ann := &pb.Announcement{Tokens: []*pb.Token{{Value: pattern(8, 0)}}, SealedRecord: []byte{1}}
	manyAuths := make([]*pb.MailboxAuth, MaxAuthsPerRequest+1)
	for i := range manyAuths {
		manyAuths[i] = auth
	}
	manyTokens := make([]*pb.Token, MaxTokensPerAnnouncement+1)
	for i := range manyTokens {
		manyTokens[i] = &pb.Token{Value: pattern(8, 0)}
	}
	mreq := func(b any) *pb.MailboxRequest {
		m := &pb.MailboxRequest{Id: 1}
		switch b := b.(type) {
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
	peer := func(b any) *pb.PeerFrame {
		m := &pb.PeerFrame{}
		switch b := b.(type) {
		case *pb.Hello:
			m.Body = &pb.PeerFrame_Hello{Hello: b}
		case *pb.Offer:
			m.Body = &pb.PeerFrame_Offer{Offer: b}
		case *pb.OfferReply:
			m.Body = &pb.PeerFrame_OfferReply{OfferReply: b}
		case *pb.Chunk:
			m.Body = &pb.PeerFrame_Chunk{Chunk: b}
		case *pb.Receipt:
			m.Body = &pb.PeerFrame_Receipt{Receipt: b}
		case *pb.Resume:
			m.Body = &pb.PeerFrame_Resume{Resume: b}
		case *pb.Envelope:
			m.Body = &pb.PeerFrame_Envelope{Envelope: b}
		}
		return m
	}
	announce := func(a *pb.Announce) *pb.RendezvousRequest {
		return &pb.RendezvousRequest{Id: 1, Body: &pb.RendezvousRequest_Announce{Announce: a}}
	}
	forget := func(ss ...*pb.ForgetSecret) *pb.RendezvousRequest {
		return &pb.RendezvousRequest{Id: 1, Body: &pb.RendezvousRequest_HistoryForget{HistoryForget: &pb.HistoryForget{Secrets: ss}}}
	}
	secret := &pb.ForgetSecret{Epoch: 1, Secret: pattern(ForgetSecretSize, 0)}
	manySecrets := make([]*pb.ForgetSecret, MaxForgetSecrets+1)
	for i := range manySecrets {
		manySecrets[i] = secret
	}
	cases := []struct {
		name string
		m    proto.Message
		code pb.ErrorCode
	}{
		{"put absent", mreq(&pb.Put{}), badRequest},
		{"put nil", &pb.MailboxRequest{Id: 1, Body: &pb.MailboxRequest_Put{}}, badRequest},
		{"put blob too large", mreq(&pb.Put{MailboxId: pattern(16, 0), Blob: make([]byte, MaxBlobSize+1)}), tooLarge},
		{"fetch short challenge", mreq(&pb.Fetch{Challenge: ch[:31], Auth: []*pb.MailboxAuth{auth}}), badRequest},
		{"fetch too many auths", mreq(&pb.Fetch{Challenge: ch, Auth: manyAuths}), tooLarge},
		{"fetch bad pub", mreq(&pb.Fetch{Challenge: ch, Auth: []*pb.MailboxAuth{{MailboxId: pattern(16, 0), Pub: pattern(31, 0), Sig: pattern(64, 0)}}}), badRequest},
		{"fetch nil auth", mreq(&pb.Fetch{Challenge: ch, Auth: []*pb.MailboxAuth{nil}}), badRequest},
		{"fetch bad after", mreq(&pb.Fetch{Challenge: ch, Auth: []*pb.MailboxAuth{auth}, AfterBlobId: []byte{1}}), badRequest},
		{"ack no blobs", mreq(&pb.Ack{Challenge: ch, Auth: []*pb.MailboxAuth{auth}}), badRequest},
		{"ack bad blob id", mreq(&pb.Ack{Challenge: ch, Auth: []*pb.MailboxAuth{auth}, Blobs: []*pb.BlobRef{{MailboxId: auth.MailboxId, BlobId: []byte{1}}}}), badRequest},
		{"subscribe no auth", mreq(&pb.Subscribe{Challenge: ch}), badRequest},
		{"forget no challenge", mreq(&pb.Forget{Auth: []*pb.MailboxAuth{auth}}), badRequest},
		{"mailbox response empty", &pb.MailboxResponse{Id: 1}, unsupported},
		{"mailbox response zero id", &pb.MailboxResponse{Body: &pb.MailboxResponse_Ack{Ack: &pb.AckResult{}}}, badRequest},
		{"challenge short nonce", &pb.MailboxResponse{Id: 1, Body: &pb.MailboxResponse_Challenge{Challenge: &pb.Challenge{Nonce: ch[:8], ExpiresUnix: 1}}}, badRequest},
		{"put result no expiry", &pb.MailboxResponse{Id: 1, Body: &pb.MailboxResponse_Put{Put: &pb.PutResult{BlobId: pattern(16, 0)}}}, badRequest},
		{"fetch result size mismatch", &pb.MailboxResponse{Id: 1, Body: &pb.MailboxResponse_Fetch{Fetch: &pb.FetchResult{Blobs: []*pb.Blob{{MailboxId: pattern(16, 0), BlobId: pattern(16, 0), Size: 3, Data: []byte{1}}}}}}, badRequest},
		{"notify zero size", &pb.MailboxResponse{Body: &pb.MailboxResponse_Notify{Notify: &pb.Notify{MailboxId: pattern(16, 0), BlobId: pattern(16, 0)}}}, badRequest},
		{"error OK", &pb.MailboxResponse{Id: 1, Error: &pb.Error{}}, badRequest},
		{"announce zero epoch", announce(&pb.Announce{EpochSeconds: 600, Announcements: []*pb.Announcement{ann}}), badRequest},
		{"announce none", announce(&pb.Announce{Epoch: 1, EpochSeconds: 600}), badRequest},
		{"announce too many tokens", announce(&pb.Announce{Epoch: 1, EpochSeconds: 600, Announcements: []*pb.Announcement{{Tokens: manyTokens, SealedRecord: []byte{1}}}}), tooLarge},
		{"announce token total", announce(&pb.Announce{Epoch: 1, EpochSeconds: 600, Announcements: maxAnnouncements(MaxTokensPerAnnounce/MaxAnnouncements + 1)}), tooLarge},
		{"announce bad kind", announce(&pb.Announce{Epoch: 1, EpochSeconds: 600, Announcements: []*pb.Announcement{{Tokens: []*pb.Token{{Value: pattern(8, 0), Kind: 7}}, SealedRecord: []byte{1}}}}), badRequest},
		{"announce empty record", announce(&pb.Announce{Epoch: 1, EpochSeconds: 600, Announcements: []*pb.Announcement{{Tokens: []*pb.Token{{Value: pattern(8, 0)}}}}}), badRequest},
		{"announce long shared record", announce(&pb.Announce{Epoch: 1, EpochSeconds: 600, Announcements: []*pb.Announcement{ann}, SharedRecord: pattern(MaxSealedRecord+1, 0)}), tooLarge},
		{"announce short forget tag", announce(&pb.Announce{Epoch: 1, EpochSeconds: 600, Announcements: []*pb.Announcement{ann}, ForgetTag: pattern(ForgetSecretSize-1, 0)}), badRequest},
		{"late announce none", &pb.RendezvousRequest{Id: 1, Body: &pb.RendezvousRequest_LateAnnounce{LateAnnounce: &pb.Announce{Epoch: 1, EpochSeconds: 600}}}, badRequest},
		{"late announce long forget tag", &pb.RendezvousRequest{Id: 1, Body: &pb.RendezvousRequest_LateAnnounce{LateAnnounce: &pb.Announce{Epoch: 1, EpochSeconds: 600, Announcements: []*pb.Announcement{ann}, ForgetTag: pattern(ForgetSecretSize+1, 0)}}}, badRequest},
		{"history forget none", forget(), badRequest},
		{"history forget nil secret", forget(nil), badRequest},
		{"history forget zero epoch", forget(&pb.ForgetSecret{Secret: pattern(ForgetSecretSize, 0)}), badRequest},
		{"history forget short secret", forget(&pb.ForgetSecret{Epoch: 1, Secret: pattern(ForgetSecretSize-1, 0)}), badRequest},
		{"history forget too many", forget(manySecrets...), tooLarge},
		{"gossip withdraw late", &pb.RendezvousGossip{Origin: pattern(16, 0), Withdraw: true, Late: true}, badRequest},
		{"gossip withdraw with forget", &pb.RendezvousGossip{Origin: pattern(16, 0), Withdraw: true, Forget: []*pb.ForgetSecret{secret}}, badRequest},
		{"gossip forget with announcements", &pb.RendezvousGossip{Origin: pattern(16, 0), Forget: []*pb.ForgetSecret{secret}, Epoch: 1, EpochSeconds: 600, Announcements: []*pb.Announcement{ann}}, badRequest},
		{"gossip forget with tag", &pb.RendezvousGossip{Origin: pattern(16, 0), Forget: []*pb.ForgetSecret{secret}, ForgetTag: pattern(ForgetSecretSize, 0)}, badRequest},
		{"gossip forget short secret", &pb.RendezvousGossip{Origin: pattern(16, 0), Forget: []*pb.ForgetSecret{{Epoch: 1, Secret: pattern(8, 0)}}}, badRequest},
		{"gossip short forget tag", &pb.RendezvousGossip{Origin: pattern(16, 0), Epoch: 1, EpochSeconds: 600, Announcements: []*pb.Announcement{ann}, ForgetTag: pattern(8, 0)}, badRequest},
		{"rendezvous request empty", &pb.RendezvousRequest{Id: 1}, unsupported},
		{"match long shared record", &pb.RendezvousResponse{Body: &pb.RendezvousResponse_Match{Match: &pb.Match{Epoch: 1, Token: pattern(8, 0), SealedRecord: []byte{1}, SharedRecord: pattern(MaxSealedRecord+1, 0)}}}, tooLarge},
		{"gossip withdraw with shared record", &pb.RendezvousGossip{Origin: pattern(16, 0), Withdraw: true, SharedRecord: []byte{1}}, badRequest},
		{"gossip long shared record", &pb.RendezvousGossip{Origin: pattern(16, 0), Epoch: 1, EpochSeconds: 600, Announcements: []*pb.Announcement{ann}, SharedRecord: pattern(MaxSealedRecord+1, 0)}, tooLarge},
		{"rendezvous response match id", &pb.RendezvousResponse{Id: 1, Body: &pb.RendezvousResponse_Match{Match: &pb.Match{Epoch: 1, Token: pattern(8, 0), SealedRecord: []byte{1}}}}, badRequest},
		{"match bad token", &pb.RendezvousResponse{Body: &pb.RendezvousResponse_Match{Match: &pb.Match{Epoch: 1, Token: pattern(9, 0), SealedRecord: []byte{1}}}}, badRequest},
		{"gossip bad origin", &pb.RendezvousGossip{Origin: pattern(15, 0), Withdraw: true}, badRequest},
		{"gossip no announcements", &pb.RendezvousGossip{Origin: pattern(16, 0), Epoch: 1, EpochSeconds: 600}, badRequest},
		{"link response empty", &pb.LinkResponse{}, badRequest},
		{"link response both", &pb.LinkResponse{Error: &pb.Error{Code: pb.ErrorCode_NOT_FOUND}, Sealed: []byte{1}}, badRequest},
		{"link request too large", &pb.LinkRequest{InviteId: pattern(16, 0), Sealed: make([]byte, MaxSealedLink+1)}, tooLarge},
		{"hello zero epoch", peer(&pb.Hello{PairHint: pattern(8, 0), Nonce: pattern(16, 0), Proof: pattern(32, 0)}), badRequest},
		{"hello short proof", peer(&pb.Hello{PairHint: pattern(8, 0), Epoch: 1, Nonce: pattern(16, 0), Proof: pattern(31, 0)}), badRequest},
		{"offer too large", peer(&pb.Offer{ItemId: pattern(16, 0), Sealed: make([]byte, MaxSealedOffer+1)}), tooLarge},
		{"offer reply bad item", peer(&pb.OfferReply{ItemId: []byte{1}}), badRequest},
		{"chunk empty", peer(&pb.Chunk{ItemId: pattern(16, 0)}), badRequest},
		{"chunk too large", peer(&pb.Chunk{ItemId: pattern(16, 0), Data: make([]byte, MaxSealedChunk+1)}), tooLarge},
		{"receipt short sig", peer(&pb.Receipt{ItemId: pattern(16, 0), Sig: pattern(63, 0)}), badRequest},
		{"resume bad item", peer(&pb.Resume{}), badRequest},
		{"envelope too large", peer(&pb.Envelope{Sealed: make([]byte, MaxSealedEnvelope+1)}), tooLarge},
	}
	for _, c := range cases {
		err := validate(c.m)
		if got := Code(err); got != c.code {
			t.Errorf("%s: got %v (%v), want %v", c.name, got, err, c.code)
		}
	}
}

func TestValidateNil(t *testing.T) {
	for _, m := range []proto.Message{(*pb.MailboxRequest)(nil), (*pb.MailboxResponse)(nil), (*pb.RendezvousRequest)(nil),
		(*pb.RendezvousResponse)(nil), (*pb.RendezvousGossip)(nil), (*pb.LinkRequest)(nil), (*pb.LinkResponse)(nil), (*pb.PeerFrame)(nil)} {
		if err := validate(m); Code(err) != badRequest {
			t.Errorf("%T(nil): %v", m, err)
		}
	}
}

func TestEncodeGossip(t *testing.T) {
	g := &pb.RendezvousGossip{Origin: pattern(16, 0), Epoch: 1, EpochSeconds: 600, Announcements: maxAnnouncements(2)}
	b, err := EncodeGossip(g)
	if err != nil {
		t.Fatal(err)
	}
	var back pb.RendezvousGossip
	if err := DecodeGossip(b, &back); err != nil || !proto.Equal(&back, g) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := EncodeGossip(&pb.RendezvousGossip{}); Code(err) != badRequest {
		t.Fatalf("invalid gossip encoded: %v", err)
	}
	if err := DecodeGossip(make([]byte, MaxGossipMessage+1), &back); Code(err) != tooLarge {
		t.Fatalf("oversized gossip: %v", err)
	}
}
