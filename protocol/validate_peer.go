package protocol

import (
	"io"

	"github.com/imigee/imigee/protocol/pb"
)

// ValidateLinkRequest checks an InviteIDSize invite ID and a sealed body of
// 1..MaxSealedLink bytes.
func ValidateLinkRequest(m *pb.LinkRequest) error {
	if m == nil {
		return errf(badRequest, "link request: absent")
	}
	if err := exact("link request.invite_id", m.InviteId, InviteIDSize); err != nil {
		return err
	}
	return sized("link request.sealed", m.Sealed, MaxSealedLink)
}

// ValidateLinkResponse checks that a LinkResponse carries either a valid
// error or a sealed body of 1..MaxSealedLink bytes, not both.
func ValidateLinkResponse(m *pb.LinkResponse) error {
	if m == nil {
		return errf(badRequest, "link response: absent")
	}
	if m.Error != nil {
		if len(m.Sealed) != 0 {
			return errf(badRequest, "link response: both error and sealed")
		}
		return at(ValidateError(m.Error), "link response.")
	}
	return sized("link response.sealed", m.Sealed, MaxSealedLink)
}

// ValidatePeerFrame checks that a share-stream frame has exactly one known
// body and that its fields are within their limits: IDs of ItemIDSize
// bytes, Hello fields of their fixed sizes and a non-zero epoch, sealed
// offers up to MaxSealedOffer, chunks up to MaxSealedChunk, envelopes up to
// MaxSealedEnvelope (all non-empty), receipt signatures of SignatureSize.
func ValidatePeerFrame(m *pb.PeerFrame) error {
	if m == nil {
		return errf(badRequest, "peer frame: absent")
	}
	switch b := m.Body.(type) {
	case *pb.PeerFrame_Hello:
		h := b.Hello
		if h == nil {
			return errf(badRequest, "hello: absent")
		}
		if err := exact("hello.pair_hint", h.PairHint, PairHintSize); err != nil {
			return err
		}
		if h.Epoch == 0 {
			return errf(badRequest, "hello.epoch: zero")
		}
		if err := exact("hello.nonce", h.Nonce, HelloNonceSize); err != nil {
			return err
		}
		return exact("hello.proof", h.Proof, HelloProofSize)
	case *pb.PeerFrame_Offer:
		o := b.Offer
		if o == nil {
			return errf(badRequest, "offer: absent")
		}
		if err := exact("offer.item_id", o.ItemId, ItemIDSize); err != nil {
			return err
		}
		return sized("offer.sealed", o.Sealed, MaxSealedOffer)
	case *pb.PeerFrame_OfferReply:
		if b.OfferReply == nil {
			return errf(badRequest, "offer reply: absent")
		}
		return exact("offer reply.item_id", b.OfferReply.ItemId, ItemIDSize)
	case *pb.PeerFrame_Chunk:
		c := b.Chunk
		if c == nil {
			return errf(badRequest, "chunk: absent")
		}
		if err := exact("chunk.item_id", c.ItemId, ItemIDSize); err != nil {
			return err
		}
		return sized("chunk.data", c.Data, MaxSealedChunk)
	case *pb.PeerFrame_Receipt:
		r := b.Receipt
		if r == nil {
			return errf(badRequest, "receipt: absent")
		}
		if err := exact("receipt.item_id", r.ItemId, ItemIDSize); err != nil {
			return err
		}
		return exact("receipt.sig", r.Sig, SignatureSize)
	case *pb.PeerFrame_Resume:
		if b.Resume == nil {
			return errf(badRequest, "resume: absent")
		}
		return exact("resume.item_id", b.Resume.ItemId, ItemIDSize)
	case *pb.PeerFrame_Envelope:
		if b.Envelope == nil {
			return errf(badRequest, "envelope: absent")
		}
		return sized("envelope.sealed", b.Envelope.Sealed, MaxSealedEnvelope)
	case *pb.PeerFrame_Error:
		return at(ValidateError(b.Error), "peer frame.")
	default:
		return errf(unsupported, "peer frame: no known body")
	}
}

// ReadLinkRequest reads one frame of at most MaxLinkFrame bytes into m and
// validates it.
func ReadLinkRequest(r io.Reader, m *pb.LinkRequest) error {
	if err := ReadMsg(r, m, MaxLinkFrame); err != nil {
		return err
	}
	return ValidateLinkRequest(m)
}

// ReadLinkResponse reads one frame of at most MaxLinkFrame bytes into m and
// validates it.
func ReadLinkResponse(r io.Reader, m *pb.LinkResponse) error {
	if err := ReadMsg(r, m, MaxLinkFrame); err != nil {
		return err
	}
	return ValidateLinkResponse(m)
}

// ReadPeerFrame reads one frame of at most MaxShareFrame bytes into m and
// validates it.
func ReadPeerFrame(r io.Reader, m *pb.PeerFrame) error {
	if err := ReadMsg(r, m, MaxShareFrame); err != nil {
		return err
	}
	return ValidatePeerFrame(m)
}
