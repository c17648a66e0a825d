package protocol

import (
	"io"
	"strconv"

	"github.com/imigee/imigee/protocol/pb"
)

// ContactsProtocol carries ContactsRequest/ContactsResponse frames between a
// node and a relay (challenge, OPRF evaluation, pending pair entries).
const ContactsProtocol = "/imigee/contacts/1"

// Contact matching sizes and counts (crypto/contact.go defines the same
// sizes; crypto is not imported here, tests check they agree).
const (
	// ContactElementSize is one blinded or evaluated element: 32.
	ContactElementSize = 32
	// ContactProofSize is a DLEQ batch proof: 64.
	ContactProofSize = 64
	// ContactPublicKeySize is an OPRF public key: 32.
	ContactPublicKeySize = 32
	// ContactEntryIDSize is a pending entry ID: 32.
	ContactEntryIDSize = 32
	// ContactWithdrawSize is a withdraw hash or secret: 32.
	ContactWithdrawSize = 32
	// SealedContactOfferSize is a sealed contact offer: 24 + 16 + 1024.
	SealedContactOfferSize = 24 + 16 + 1024
	// MaxContactBatch caps ContactEvaluate.blinded: 2048.
	MaxContactBatch = 2048
	// MaxContactEntriesPerPost caps ContactPost.entries: 256.
	MaxContactEntriesPerPost = 256
	// MaxContactMatchesPerResult caps ContactPostResult.matches: 512.
	MaxContactMatchesPerResult = 512
	// MaxContactWithdrawals caps ContactWithdraw.entries: 1024.
	MaxContactWithdrawals = 1024
	// MaxContactPoWBits is the highest difficulty a challenge may set: 40.
	MaxContactPoWBits = 40
	// MaxContactsRequest caps a ContactsRequest frame: 320 KiB (a full
	// post, 256 entries of about 1.1 KiB, encodes to about 285 KiB).
	MaxContactsRequest = 320 << 10
	// MaxContactsResponse caps a ContactsResponse frame: 640 KiB (512
	// matches encode to about 560 KiB).
	MaxContactsResponse = 640 << 10
)

// ValidateContactsRequest checks a ContactsRequest: a non-zero id, exactly
// one known body, every field within its limit; entry IDs of one request
// are distinct.
func ValidateContactsRequest(m *pb.ContactsRequest) error {
	if m == nil {
		return errf(badRequest, "contacts request: absent")
	}
	if err := nonZeroID("contacts request", m.Id); err != nil {
		return err
	}
	switch b := m.Body.(type) {
	case *pb.ContactsRequest_Challenge:
		if b.Challenge == nil {
			return errf(badRequest, "challenge request: absent")
		}
		return nil
	case *pb.ContactsRequest_Evaluate:
		e := b.Evaluate
		if e == nil {
			return errf(badRequest, "evaluate: absent")
		}
		if err := exact("evaluate.challenge", e.Challenge, ChallengeSize); err != nil {
			return err
		}
		return validateElements("evaluate.blinded", e.Blinded)
	case *pb.ContactsRequest_Post:
		p := b.Post
		if p == nil {
			return errf(badRequest, "post: absent")
		}
		if err := exact("post.challenge", p.Challenge, ChallengeSize); err != nil {
			return err
		}
		if err := count("post.entries", len(p.Entries), 1, MaxContactEntriesPerPost); err != nil {
			return err
		}
		seen := make(map[[ContactEntryIDSize]byte]struct{}, len(p.Entries))
		for i, e := range p.Entries {
			f := idx("post.entries", i)
			if e == nil {
				return errf(badRequest, f, "absent")
			}
			if err := exact(f+"entry_id", e.EntryId, ContactEntryIDSize); err != nil {
				return err
			}
			if err := exact(f+"sealed_offer", e.SealedOffer, SealedContactOfferSize); err != nil {
				return err
			}
			if err := exact(f+"withdraw_hash", e.WithdrawHash, ContactWithdrawSize); err != nil {
				return err
			}
			if err := distinct(seen, f+"entry_id", e.EntryId); err != nil {
				return err
			}
		}
		return nil
	case *pb.ContactsRequest_Withdraw:
		w := b.Withdraw
		if w == nil {
			return errf(badRequest, "withdraw: absent")
		}
		if err := count("withdraw.entries", len(w.Entries), 1, MaxContactWithdrawals); err != nil {
			return err
		}
		for i, e := range w.Entries {
			f := idx("withdraw.entries", i)
			if e == nil {
				return errf(badRequest, f, "absent")
			}
			if err := exact(f+"entry_id", e.EntryId, ContactEntryIDSize); err != nil {
				return err
			}
			if err := exact(f+"withdraw_secret", e.WithdrawSecret, ContactWithdrawSize); err != nil {
				return err
			}
		}
		return nil
	default:
		return errf(unsupported, "contacts request: no known body")
	}
}

func distinct(seen map[[ContactEntryIDSize]byte]struct{}, field string, id []byte) error {
	k := [ContactEntryIDSize]byte(id)
	if _, dup := seen[k]; dup {
		return errf(badRequest, field, ": repeated")
	}
	seen[k] = struct{}{}
	return nil
}

func validateElements(field string, els [][]byte) error {
	if err := count(field, len(els), 1, MaxContactBatch); err != nil {
		return err
	}
	for i, e := range els {
		if len(e) != ContactElementSize {
			return errf(badRequest, field, "[", strconv.Itoa(i), "]: ", strconv.Itoa(len(e)), " bytes, want ", strconv.Itoa(ContactElementSize))
		}
	}
	return nil
}

// ValidateContactsResponse checks a ContactsResponse: the request's
// non-zero id, an error or one body, every field within its limit.
func ValidateContactsResponse(m *pb.ContactsResponse) error {
	if m == nil {
		return errf(badRequest, "contacts response: absent")
	}
	if err := nonZeroID("contacts response", m.Id); err != nil {
		return err
	}
	if m.Error != nil {
		if m.Body != nil {
			return errf(badRequest, "contacts response: both error and body")
		}
		return at(ValidateError(m.Error), "contacts response.")
	}
	switch b := m.Body.(type) {
	case *pb.ContactsResponse_Challenge:
		c := b.Challenge
		if c == nil {
			return errf(badRequest, "challenge: absent")
		}
		if err := exact("challenge.nonce", c.Nonce, ChallengeSize); err != nil {
			return err
		}
		if c.ExpiresUnix <= 0 {
			return errf(badRequest, "challenge.expires_unix: not positive")
		}
		if c.Difficulty > MaxContactPoWBits {
			return errf(badRequest, "challenge.difficulty: over ", strconv.Itoa(MaxContactPoWBits))
		}
		if c.MaxBatch > MaxContactBatch {
			return errf(badRequest, "challenge.max_batch: over ", strconv.Itoa(MaxContactBatch))
		}
		return optExact("challenge.public_key", c.PublicKey, ContactPublicKeySize)
	case *pb.ContactsResponse_Evaluate:
		e := b.Evaluate
		if e == nil {
			return errf(badRequest, "evaluate result: absent")
		}
		if err := validateElements("evaluate result.evaluated", e.Evaluated); err != nil {
			return err
		}
		return exact("evaluate result.proof", e.Proof, ContactProofSize)
	case *pb.ContactsResponse_Post:
		p := b.Post
		if p == nil {
			return errf(badRequest, "post result: absent")
		}
		if err := count("post result.matches", len(p.Matches), 0, MaxContactMatchesPerResult); err != nil {
			return err
		}
		if err := count("post result.expires_unix", len(p.ExpiresUnix), 0, MaxContactEntriesPerPost); err != nil {
			return err
		}
		for i, mt := range p.Matches {
			f := idx("post result.matches", i)
			if mt == nil {
				return errf(badRequest, f, "absent")
			}
			if err := exact(f+"entry_id", mt.EntryId, ContactEntryIDSize); err != nil {
				return err
			}
			if err := exact(f+"sealed_offer", mt.SealedOffer, SealedContactOfferSize); err != nil {
				return err
			}
		}
		return nil
	case *pb.ContactsResponse_Withdraw:
		if b.Withdraw == nil {
			return errf(badRequest, "withdraw result: absent")
		}
		return nil
	default:
		return errf(unsupported, "contacts response: no known body")
	}
}

// ReadContactsRequest reads one frame of at most MaxContactsRequest bytes
// into m and validates it.
func ReadContactsRequest(r io.Reader, m *pb.ContactsRequest) error {
	if err := ReadMsg(r, m, MaxContactsRequest); err != nil {
		return err
	}
	return ValidateContactsRequest(m)
}

// ReadContactsResponse reads one frame of at most MaxContactsResponse bytes
// into m and validates it.
func ReadContactsResponse(r io.Reader, m *pb.ContactsResponse) error {
	if err := ReadMsg(r, m, MaxContactsResponse); err != nil {
		return err
	}
	return ValidateContactsResponse(m)
}
