package protocol

import (
	"io"
	"strconv"

	"github.com/imigee/imigee/protocol/pb"
)

// ValidateMailboxRequest checks a MailboxRequest: a non-zero id and exactly
// one known body, each field within its limit. Auth lists hold 1 to
// MaxAuthsPerRequest entries with distinct mailbox IDs; every BlobRef of an
// Ack names a mailbox covered by one of its auths. Fetch.max_blobs and
// Fetch.max_bytes are requests the relay clamps (to MaxBlobsPerFetch,
// MaxFetchBytes and its own caps), so any value passes.
func ValidateMailboxRequest(m *pb.MailboxRequest) error {
	if m == nil {
		return errf(badRequest, "mailbox request: absent")
	}
	if err := nonZeroID("mailbox request", m.Id); err != nil {
		return err
	}
	switch b := m.Body.(type) {
	case *pb.MailboxRequest_Challenge:
		if b.Challenge == nil {
			return errf(badRequest, "challenge request: absent")
		}
		return nil
	case *pb.MailboxRequest_Put:
		return validatePut(b.Put)
	case *pb.MailboxRequest_Fetch:
		f := b.Fetch
		if f == nil {
			return errf(badRequest, "fetch: absent")
		}
		if err := exact("fetch.challenge", f.Challenge, ChallengeSize); err != nil {
			return err
		}
		var set idSet
		if err := validateAuths("fetch.auth", f.Auth, &set); err != nil {
			return err
		}
		return optExact("fetch.after_blob_id", f.AfterBlobId, BlobIDSize)
	case *pb.MailboxRequest_Ack:
		return validateAck(b.Ack)
	case *pb.MailboxRequest_Subscribe:
		s := b.Subscribe
		if s == nil {
			return errf(badRequest, "subscribe: absent")
		}
		if err := exact("subscribe.challenge", s.Challenge, ChallengeSize); err != nil {
			return err
		}
		var set idSet
		return validateAuths("subscribe.auth", s.Auth, &set)
	case *pb.MailboxRequest_Forget:
		f := b.Forget
		if f == nil {
			return errf(badRequest, "forget: absent")
		}
		if err := exact("forget.challenge", f.Challenge, ChallengeSize); err != nil {
			return err
		}
		var set idSet
		return validateAuths("forget.auth", f.Auth, &set)
	default:
		return errf(unsupported, "mailbox request: no known body")
	}
}

func validatePut(p *pb.Put) error {
	if p == nil {
		return errf(badRequest, "put: absent")
	}
	if err := exact("put.mailbox_id", p.MailboxId, MailboxIDSize); err != nil {
		return err
	}
	return sized("put.blob", p.Blob, MaxBlobSize)
}

func validateAck(a *pb.Ack) error {
	if a == nil {
		return errf(badRequest, "ack: absent")
	}
	if err := exact("ack.challenge", a.Challenge, ChallengeSize); err != nil {
		return err
	}
	var covered idSet
	if err := validateAuths("ack.auth", a.Auth, &covered); err != nil {
		return err
	}
	if err := count("ack.blobs", len(a.Blobs), 1, MaxBlobRefsPerAck); err != nil {
		return err
	}
	for i, r := range a.Blobs {
		if r == nil {
			return errf(badRequest, idx("ack.blobs", i), "absent")
		}
		if len(r.MailboxId) != MailboxIDSize { // the field name only for the error
			return exact(idx("ack.blobs", i)+"mailbox_id", r.MailboxId, MailboxIDSize)
		}
		if len(r.BlobId) != BlobIDSize { // the field name only for the error
			return exact(idx("ack.blobs", i)+"blob_id", r.BlobId, BlobIDSize)
		}
		if !covered.has([MailboxIDSize]byte(r.MailboxId)) {
			return errf(badRequest, idx("ack.blobs", i), "mailbox_id: not covered by an auth")
		}
	}
	return nil
}

// idSet is a set of mailbox IDs: an inline array for the common short
// lists (no allocation), a map beyond idSetLinear entries.
type idSet struct {
	n     int
	small [idSetLinear][MailboxIDSize]byte
	m     map[[MailboxIDSize]byte]struct{}
}

const idSetLinear = 16

func (s *idSet) has(id [MailboxIDSize]byte) bool {
	if s.m != nil {
		_, ok := s.m[id]
		return ok
	}
	for _, x := range s.small[:s.n] {
		if x == id {
			return true
		}
	}
	return false
}

func (s *idSet) add(id [MailboxIDSize]byte) {
	if s.m == nil && s.n < idSetLinear {
		s.small[s.n] = id
		s.n++
		return
	}
	if s.m == nil {
		s.m = make(map[[MailboxIDSize]byte]struct{}, 4*idSetLinear)
		for _, x := range s.small[:s.n] {
			s.m[x] = struct{}{}
		}
	}
	s.m[id] = struct{}{}
}

// validateAuths checks 1..MaxAuthsPerRequest auths with distinct mailbox
// IDs and returns the set of those IDs.
func validateAuths(field string, auths []*pb.MailboxAuth, set *idSet) error {
	if err := count(field, len(auths), 1, MaxAuthsPerRequest); err != nil {
		return err
	}
	for i, a := range auths {
		if err := ValidateMailboxAuth(a); err != nil {
			return at(err, idx(field, i))
		}
		id := [MailboxIDSize]byte(a.MailboxId)
		if set.has(id) {
			return errf(badRequest, idx(field, i), "mailbox_id: duplicate")
		}
		set.add(id)
	}
	return nil
}

// ValidateMailboxAuth checks the lengths of one MailboxAuth (mailbox_id 16,
// pub 32, sig 64); whether it verifies is crypto.VerifyMailboxAuth's job.
func ValidateMailboxAuth(a *pb.MailboxAuth) error {
	if a == nil {
		return errf(badRequest, "absent")
	}
	if err := exact("mailbox_id", a.MailboxId, MailboxIDSize); err != nil {
		return err
	}
	if err := exact("pub", a.Pub, PublicKeySize); err != nil {
		return err
	}
	return exact("sig", a.Sig, SignatureSize)
}

// ValidateMailboxResponse checks a MailboxResponse: either an error (valid
// per ValidateError) and no body, or exactly one known body. A pushed
// Notify has id 0; every other body answers a request and has a non-zero
// id; an error may have id 0 when it concerns the whole stream.
func ValidateMailboxResponse(m *pb.MailboxResponse) error {
	if m == nil {
		return errf(badRequest, "mailbox response: absent")
	}
	if m.Error != nil {
		if m.Body != nil {
			return errf(badRequest, "mailbox response: both error and body")
		}
		return at(ValidateError(m.Error), "mailbox response.")
	}
	if _, push := m.Body.(*pb.MailboxResponse_Notify); push {
		if m.Id != 0 {
			return errf(badRequest, "mailbox response: notify with non-zero id")
		}
	} else if m.Body != nil {
		if err := nonZeroID("mailbox response", m.Id); err != nil {
			return err
		}
	}
	switch b := m.Body.(type) {
	case *pb.MailboxResponse_Challenge:
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
		return nil
	case *pb.MailboxResponse_Put:
		p := b.Put
		if p == nil {
			return errf(badRequest, "put result: absent")
		}
		if err := exact("put result.blob_id", p.BlobId, BlobIDSize); err != nil {
			return err
		}
		if p.ExpiresUnix <= 0 {
			return errf(badRequest, "put result.expires_unix: not positive")
		}
		return nil
	case *pb.MailboxResponse_Fetch:
		return validateFetchResult(b.Fetch)
	case *pb.MailboxResponse_Ack:
		if b.Ack == nil {
			return errf(badRequest, "ack result: absent")
		}
		if b.Ack.Deleted > MaxBlobRefsPerAck {
			return errf(badRequest, "ack result.deleted: more than ", strconv.Itoa(MaxBlobRefsPerAck))
		}
		return nil
	case *pb.MailboxResponse_Subscribe:
		if b.Subscribe == nil {
			return errf(badRequest, "subscribe result: absent")
		}
		return nil
	case *pb.MailboxResponse_Notify:
		n := b.Notify
		if n == nil {
			return errf(badRequest, "notify: absent")
		}
		if err := exact("notify.mailbox_id", n.MailboxId, MailboxIDSize); err != nil {
			return err
		}
		if err := exact("notify.blob_id", n.BlobId, BlobIDSize); err != nil {
			return err
		}
		return validateBlobSize("notify.size", n.Size)
	case *pb.MailboxResponse_Forget:
		if b.Forget == nil {
			return errf(badRequest, "forget result: absent")
		}
		return nil
	default:
		return errf(unsupported, "mailbox response: no known body")
	}
}

func validateBlobSize(field string, size uint32) error {
	if size == 0 {
		return errf(badRequest, field, ": zero")
	}
	if size > MaxBlobSize {
		return errf(tooLarge, field, ": ", strconv.FormatUint(uint64(size), 10), " exceeds ", strconv.Itoa(MaxBlobSize))
	}
	return nil
}

// validateFetchResult checks at most MaxBlobsPerFetch blobs whose data sum
// to at most MaxFetchBytes. Each blob's data is empty (ids_only) or exactly
// size bytes.
func validateFetchResult(f *pb.FetchResult) error {
	if f == nil {
		return errf(badRequest, "fetch result: absent")
	}
	if err := count("fetch result.blobs", len(f.Blobs), 0, MaxBlobsPerFetch); err != nil {
		return err
	}
	total := 0
	for i, b := range f.Blobs {
		p := idx("fetch result.blobs", i)
		if b == nil {
			return errf(badRequest, p, "absent")
		}
		if err := exact(p+"mailbox_id", b.MailboxId, MailboxIDSize); err != nil {
			return err
		}
		if err := exact(p+"blob_id", b.BlobId, BlobIDSize); err != nil {
			return err
		}
		if err := validateBlobSize(p+"size", b.Size); err != nil {
			return err
		}
		if len(b.Data) != 0 && len(b.Data) != int(b.Size) {
			return errf(badRequest, p, "data: length ", strconv.Itoa(len(b.Data)), " differs from size")
		}
		total += len(b.Data)
	}
	if total > MaxFetchBytes {
		return errf(tooLarge, "fetch result: ", strconv.Itoa(total), " data bytes exceed ", strconv.Itoa(MaxFetchBytes))
	}
	return nil
}

// ReadMailboxRequest reads one frame of at most MaxMailboxRequest bytes
// into m and validates it.
func ReadMailboxRequest(r io.Reader, m *pb.MailboxRequest) error {
	if err := ReadMsg(r, m, MaxMailboxRequest); err != nil {
		return err
	}
	return ValidateMailboxRequest(m)
}

// ReadMailboxResponse reads one frame of at most MaxMailboxResponse bytes
// into m and validates it.
func ReadMailboxResponse(r io.Reader, m *pb.MailboxResponse) error {
	if err := ReadMsg(r, m, MaxMailboxResponse); err != nil {
		return err
	}
	return ValidateMailboxResponse(m)
}
