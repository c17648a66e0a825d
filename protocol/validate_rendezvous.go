package protocol

import (
	"io"
	"strconv"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/protocol/pb"
)

// ValidateRendezvousRequest checks a RendezvousRequest: a non-zero id and
// exactly one known body. An Announce has a non-zero epoch, an epoch length
// within [MinEpochSeconds, MaxEpochSeconds] and 1..MaxAnnouncements valid
// announcements carrying at most MaxTokensPerAnnounce tokens in all, and a
// shared record of at most MaxSealedRecord bytes. Whether the epoch is
// current is the relay's check (STALE).
func ValidateRendezvousRequest(m *pb.RendezvousRequest) error {
	if m == nil {
		return errf(badRequest, "rendezvous request: absent")
	}
	if err := nonZeroID("rendezvous request", m.Id); err != nil {
		return err
	}
	switch b := m.Body.(type) {
	case *pb.RendezvousRequest_Announce:
		return validateAnnounce("announce", b.Announce)
	case *pb.RendezvousRequest_LateAnnounce:
		return validateAnnounce("late announce", b.LateAnnounce)
	case *pb.RendezvousRequest_HistoryForget:
		if b.HistoryForget == nil {
			return errf(badRequest, "history forget: absent")
		}
		return validateForgetSecrets("history forget.secrets", b.HistoryForget.Secrets, 1)
	case *pb.RendezvousRequest_Withdraw:
		if b.Withdraw == nil {
			return errf(badRequest, "withdraw: absent")
		}
		return nil
	default:
		return errf(unsupported, "rendezvous request: no known body")
	}
}

// validateAnnounce checks an Announce (live or late): a valid epoch, an
// optional shared record, an optional ForgetSecretSize forget tag and
// 1..MaxAnnouncements announcements.
func validateAnnounce(field string, a *pb.Announce) error {
	if a == nil {
		return errf(badRequest, field, ": absent")
	}
	if err := validateEpoch(field, a.Epoch, a.EpochSeconds); err != nil {
		return err
	}
	if err := optional(field+".shared_record", a.SharedRecord, MaxSealedRecord); err != nil {
		return err
	}
	if err := optExact(field+".forget_tag", a.ForgetTag, ForgetSecretSize); err != nil {
		return err
	}
	return validateAnnouncements(field+".announcements", a.Announcements, 1)
}

// validateForgetSecrets checks min..MaxForgetSecrets secrets, each with a
// non-zero epoch and ForgetSecretSize bytes.
func validateForgetSecrets(field string, ss []*pb.ForgetSecret, min int) error {
	if err := count(field, len(ss), min, MaxForgetSecrets); err != nil {
		return err
	}
	for i, s := range ss {
		if s == nil {
			return errf(badRequest, idx(field, i), "absent")
		}
		if s.Epoch == 0 {
			return errf(badRequest, idx(field, i), "epoch: zero")
		}
		if len(s.Secret) != ForgetSecretSize { // the field name only for the error
			return exact(idx(field, i)+"secret", s.Secret, ForgetSecretSize)
		}
	}
	return nil
}

// validateAnnouncements checks min..MaxAnnouncements announcements and the
// total token count.
func validateAnnouncements(field string, as []*pb.Announcement, min int) error {
	if err := count(field, len(as), min, MaxAnnouncements); err != nil {
		return err
	}
	tokens := 0
	for i, a := range as {
		if err := ValidateAnnouncement(a); err != nil {
			return at(err, idx(field, i))
		}
		tokens += len(a.Tokens)
	}
	if tokens > MaxTokensPerAnnounce {
		return errf(tooLarge, field, ": ", strconv.Itoa(tokens), " tokens exceed ", strconv.Itoa(MaxTokensPerAnnounce))
	}
	return nil
}

// ValidateAnnouncement checks 1..MaxTokensPerAnnouncement tokens of
// TokenSize bytes with kind HERE or NEAR, and a sealed record of
// 1..MaxSealedRecord bytes.
func ValidateAnnouncement(a *pb.Announcement) error {
	if a == nil {
		return errf(badRequest, "absent")
	}
	if err := count("tokens", len(a.Tokens), 1, MaxTokensPerAnnouncement); err != nil {
		return err
	}
	for i, t := range a.Tokens {
		if t == nil {
			return errf(badRequest, idx("tokens", i), "absent")
		}
		if len(t.Value) != TokenSize { // the field name only for the error
			return exact(idx("tokens", i)+"value", t.Value, TokenSize)
		}
		if t.Kind != pb.TokenKind_HERE && t.Kind != pb.TokenKind_NEAR {
			return errf(badRequest, idx("tokens", i), "kind: unknown ", strconv.Itoa(int(t.Kind)))
		}
	}
	return sized("sealed_record", a.SealedRecord, MaxSealedRecord)
}

// ValidateRendezvousResponse checks a RendezvousResponse: either an error
// and no body, or exactly one known body. A pushed Match has id 0, other
// bodies a non-zero id; an error may have id 0 when it concerns the whole
// stream.
func ValidateRendezvousResponse(m *pb.RendezvousResponse) error {
	if m == nil {
		return errf(badRequest, "rendezvous response: absent")
	}
	if m.Error != nil {
		if m.Body != nil {
			return errf(badRequest, "rendezvous response: both error and body")
		}
		return at(ValidateError(m.Error), "rendezvous response.")
	}
	if _, push := m.Body.(*pb.RendezvousResponse_Match); push {
		if m.Id != 0 {
			return errf(badRequest, "rendezvous response: match with non-zero id")
		}
	} else if m.Body != nil {
		if err := nonZeroID("rendezvous response", m.Id); err != nil {
			return err
		}
	}
	switch b := m.Body.(type) {
	case *pb.RendezvousResponse_Announce:
		r := b.Announce
		if r == nil {
			return errf(badRequest, "announce result: absent")
		}
		if r.Accepted > MaxTokensPerAnnounce {
			return errf(badRequest, "announce result.accepted: more than ", strconv.Itoa(MaxTokensPerAnnounce))
		}
		if err := count("announce result.matches", len(r.Matches), 0, MaxMatchesPerResult); err != nil {
			return err
		}
		for i, mt := range r.Matches {
			if err := ValidateMatch(mt); err != nil {
				return at(err, idx("announce result.matches", i))
			}
		}
		return nil
	case *pb.RendezvousResponse_Match:
		return at(ValidateMatch(b.Match), "match.")
	case *pb.RendezvousResponse_Withdraw:
		if b.Withdraw == nil {
			return errf(badRequest, "withdraw result: absent")
		}
		return nil
	case *pb.RendezvousResponse_HistoryForget:
		if b.HistoryForget == nil {
			return errf(badRequest, "history forget result: absent")
		}
		return nil
	default:
		return errf(unsupported, "rendezvous response: no known body")
	}
}

// ValidateMatch checks a non-zero epoch, a TokenSize token, a sealed
// record of 1..MaxSealedRecord bytes and a shared record of at most
// MaxSealedRecord bytes.
func ValidateMatch(m *pb.Match) error {
	if m == nil {
		return errf(badRequest, "absent")
	}
	if m.Epoch == 0 {
		return errf(badRequest, "epoch: zero")
	}
	if err := exact("token", m.Token, TokenSize); err != nil {
		return err
	}
	if err := optional("shared_record", m.SharedRecord, MaxSealedRecord); err != nil {
		return err
	}
	return sized("sealed_record", m.SealedRecord, MaxSealedRecord)
}

// ValidateGossip checks a RendezvousGossip: an OriginSize origin; if
// withdraw is set, no announcements (epoch fields are then ignored); if
// forget secrets are set, 1..MaxForgetSecrets valid ones and nothing else;
// otherwise a valid epoch, an optional forget tag and 1..MaxAnnouncements
// valid announcements with at most MaxTokensPerAnnounce tokens in all.
func ValidateGossip(m *pb.RendezvousGossip) error {
	if m == nil {
		return errf(badRequest, "gossip: absent")
	}
	if err := exact("gossip.origin", m.Origin, OriginSize); err != nil {
		return err
	}
	if m.Withdraw {
		if len(m.Announcements) != 0 || len(m.SharedRecord) != 0 || len(m.Forget) != 0 || m.Late || len(m.ForgetTag) != 0 {
			return errf(badRequest, "gossip: withdraw with announcements")
		}
		return nil
	}
	if len(m.Forget) != 0 {
		if len(m.Announcements) != 0 || len(m.SharedRecord) != 0 || m.Late || len(m.ForgetTag) != 0 {
			return errf(badRequest, "gossip: forget with announcements")
		}
		return validateForgetSecrets("gossip.forget", m.Forget, 1)
	}
	if err := validateEpoch("gossip", m.Epoch, m.EpochSeconds); err != nil {
		return err
	}
	if err := optional("gossip.shared_record", m.SharedRecord, MaxSealedRecord); err != nil {
		return err
	}
	if err := optExact("gossip.forget_tag", m.ForgetTag, ForgetSecretSize); err != nil {
		return err
	}
	return validateAnnouncements("gossip.announcements", m.Announcements, 1)
}

// DecodeGossip decodes one pubsub message (bare protobuf, no length
// prefix) of at most MaxGossipMessage bytes into m and validates it.
// Unknown fields are dropped.
func DecodeGossip(data []byte, m *pb.RendezvousGossip) error {
	if len(data) > MaxGossipMessage {
		return errf(tooLarge, "gossip: ", strconv.Itoa(len(data)), " bytes exceed ", strconv.Itoa(MaxGossipMessage))
	}
	if err := unmarshal(data, m); err != nil {
		return err
	}
	return ValidateGossip(m)
}

// EncodeGossip validates m and returns its deterministic encoding for one
// pubsub message.
func EncodeGossip(m *pb.RendezvousGossip) ([]byte, error) {
	if err := ValidateGossip(m); err != nil {
		return nil, err
	}
	b, err := marshalOpts.MarshalAppend(nil, m)
	if err != nil {
		return nil, err
	}
	if len(b) > MaxGossipMessage {
		return nil, errf(tooLarge, "gossip: ", strconv.Itoa(len(b)), " bytes exceed ", strconv.Itoa(MaxGossipMessage))
	}
	return b, nil
}

// ValidateGossipBatch checks a RendezvousGossipBatch: 1..MaxGossipBatch
// items, each valid by ValidateGossip.
func ValidateGossipBatch(m *pb.RendezvousGossipBatch) error {
	if m == nil {
		return errf(badRequest, "gossip batch: absent")
	}
	if len(m.Items) == 0 || len(m.Items) > MaxGossipBatch {
		return errf(badRequest, "gossip batch: ", strconv.Itoa(len(m.Items)), " items, want 1..", strconv.Itoa(MaxGossipBatch))
	}
	for _, it := range m.Items {
		if err := ValidateGossip(it); err != nil {
			return err
		}
	}
	return nil
}

// DecodeGossipBatch decodes one pubsub message of the gossip topic (bare
// protobuf, no length prefix) of at most MaxGossipMessage bytes into m and
// validates it. Unknown fields are dropped. The bytes fields of m may
// alias data, which must not change while m is in use.
func DecodeGossipBatch(data []byte, m *pb.RendezvousGossipBatch) error {
	if len(data) > MaxGossipMessage {
		return errf(tooLarge, "gossip batch: ", strconv.Itoa(len(data)), " bytes exceed ", strconv.Itoa(MaxGossipMessage))
	}
	proto.Reset(m)
	if !decodeGossipBatchFast(data, m) {
		if err := unmarshal(data, m); err != nil {
			return err
		}
	}
	return ValidateGossipBatch(m)
}

// AppendGossipItem appends one item, encoded by EncodeGossip, to b, an
// encoded RendezvousGossipBatch: a batch is the concatenation of its items
// each as field 1 (tag, length, bytes), so a publisher can build it as
// items arrive and never re-encodes them. The result is what
// proto.Marshal of the batch gives (deterministic encoding).
func AppendGossipItem(b, item []byte) []byte {
	b = protowire.AppendTag(b, 1, protowire.BytesType)
	return protowire.AppendBytes(b, item)
}

// GossipItemOverhead bounds what AppendGossipItem adds to an item's
// bytes: a one-byte tag and a length of at most 3 bytes (items are at
// most MaxGossipMessage = 768 KiB < 2^21).
const GossipItemOverhead = 4

// ReadRendezvousRequest reads one frame of at most MaxRendezvousRequest
// bytes into m and validates it.
func ReadRendezvousRequest(r io.Reader, m *pb.RendezvousRequest) error {
	if err := ReadMsg(r, m, MaxRendezvousRequest); err != nil {
		return err
	}
	return ValidateRendezvousRequest(m)
}

// ReadRendezvousResponse reads one frame of at most MaxRendezvousResponse
// bytes into m and validates it.
func ReadRendezvousResponse(r io.Reader, m *pb.RendezvousResponse) error {
	if err := ReadMsg(r, m, MaxRendezvousResponse); err != nil {
		return err
	}
	return ValidateRendezvousResponse(m)
}
