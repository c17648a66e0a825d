package protocol

import (
	"bytes"
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/imigee/imigee/protocol/pb"
)

// nestedGroups returns a MailboxRequest body (id 1, challenge) followed by
// an unknown field 99 holding groups nested depth deep.
func nestedGroups(depth int) []byte {
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendVarint(b, 0)
	for range depth {
		b = protowire.AppendTag(b, 99, protowire.StartGroupType)
	}
	for range depth {
		b = protowire.AppendTag(b, 99, protowire.EndGroupType)
	}
	return b
}

// TestScanNestingLimit: unknown groups count against MaxNesting (the old
// decoder accepted 100 levels although its comment said 32).
func TestScanNestingLimit(t *testing.T) {
	var m pb.MailboxRequest
	if err := Unmarshal(nestedGroups(MaxNesting-1), &m); err != nil {
		t.Fatalf("%d levels: %v", MaxNesting, err)
	}
	for _, d := range []int{MaxNesting, 100, 10000} {
		err := Unmarshal(nestedGroups(d), &m)
		if !errors.Is(err, ErrBadRequest) {
			t.Fatalf("%d levels: %v, want BAD_REQUEST", d, err)
		}
	}
}

// TestScanTwoBodies: a message with two members of one oneof (or the same
// member twice) is refused instead of "last wins".
func TestScanTwoBodies(t *testing.T) {
	one := &pb.MailboxRequest{Id: 1, Body: &pb.MailboxRequest_Challenge{Challenge: &pb.ChallengeRequest{}}}
	two := &pb.MailboxRequest{Id: 1, Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: pattern(16, 0), Blob: []byte{1}}}}
	var a, b bytes.Buffer
	_ = WriteMsg(&a, one)
	_ = WriteMsg(&b, two)
	body := append(append([]byte{}, a.Bytes()[1:]...), b.Bytes()[1+2:]...) // id once, both bodies
	var m pb.MailboxRequest
	if err := Unmarshal(body, &m); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("two bodies: %v, want BAD_REQUEST", err)
	}
	same := append(append([]byte{}, a.Bytes()[1:]...), 0x12, 0x00) // challenge twice
	if err := Unmarshal(same, &m); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("one body twice: %v, want BAD_REQUEST", err)
	}
	if err := Unmarshal(a.Bytes()[1:], &m); err != nil || m.GetChallenge() == nil {
		t.Fatalf("one body: %v", err)
	}
}

// TestScanCountsBeforeDecoding: 500,000 empty auths in a 1 MiB Fetch are
// refused by counting, without decoding (the old decoder built 500,000
// structs per frame).
func TestScanCountsBeforeDecoding(t *testing.T) {
	fetch := protowire.AppendTag(nil, 1, protowire.BytesType)
	fetch = protowire.AppendBytes(fetch, pattern(32, 0))
	for range 500_000 {
		fetch = protowire.AppendTag(fetch, 2, protowire.BytesType)
		fetch = protowire.AppendVarint(fetch, 0)
	}
	body := protowire.AppendTag(nil, 1, protowire.VarintType)
	body = protowire.AppendVarint(body, 1)
	body = protowire.AppendTag(body, 4, protowire.BytesType)
	body = protowire.AppendBytes(body, fetch)
	var m pb.MailboxRequest
	allocs := testing.AllocsPerRun(3, func() {
		if err := Unmarshal(body, &m); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("500k auths: %v, want TOO_LARGE", err)
		}
	})
	if allocs > 10 {
		t.Fatalf("%v allocations to refuse the flood frame", allocs)
	}
	tokens := make([]*pb.Token, MaxTokensPerAnnouncement+1)
	for i := range tokens {
		tokens[i] = &pb.Token{Value: pattern(8, 0)}
	}
	enc, _ := proto.Marshal(&pb.Announcement{Tokens: tokens, SealedRecord: []byte{1}})
	var an pb.Announcement
	if err := Unmarshal(enc, &an); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("33 tokens: %v", err)
	}
}

// TestBodyCaps: a frame larger than its body type's cap is refused before
// the body is read; Put and Announce keep their large caps.
func TestBodyCaps(t *testing.T) {
	frame := func(m *pb.MailboxRequest) []byte {
		var b bytes.Buffer
		_ = WriteMsg(&b, m)
		return b.Bytes()
	}
	put := frame(&pb.MailboxRequest{Id: 7, Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: pattern(16, 0), Blob: pattern(MaxBlobSize, 0)}}})
	r := NewReader(bytes.NewReader(put), MaxMailboxRequest)
	r.SetBodyCaps(MailboxRequestCaps)
	var m pb.MailboxRequest
	if err := r.ReadMsg(&m); err != nil {
		t.Fatalf("full put: %v", err)
	}
	// A Fetch whose frame claims 1 MiB: only the head is needed to refuse it.
	head := protowire.AppendVarint(nil, MaxMailboxSmallRequest+1)
	head = append(head, 0x08, 0x01, 0x22, 0xff, 0xff, 0x3f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	r = NewReader(bytes.NewReader(head), MaxMailboxRequest)
	r.SetBodyCaps(MailboxRequestCaps)
	if err := r.ReadMsg(&m); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("big fetch: %v, want TOO_LARGE", err)
	}
	wd := protowire.AppendVarint(nil, MaxRendezvousSmallRequest+1)
	wd = append(wd, 0x08, 0x01, 0x1a, 0x7f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	rr := NewReader(bytes.NewReader(wd), MaxRendezvousRequest)
	rr.SetBodyCaps(RendezvousRequestCaps)
	var rm pb.RendezvousRequest
	if err := rr.ReadMsg(&rm); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("big withdraw: %v, want TOO_LARGE", err)
	}
}

type countAcct struct{ held, peak, limit int }

func (a *countAcct) Reserve(n int) error {
	if a.held+n > a.limit {
		return ErrUnavailable
	}
	a.held += n
	a.peak = max(a.peak, a.held)
	return nil
}
func (a *countAcct) Release(n int) { a.held -= n }

// TestReaderAccounts: a large frame's buffer is reserved as it grows and
// released after the frame; a refused reservation refuses the frame.
func TestReaderAccounts(t *testing.T) {
	var b bytes.Buffer
	_ = WriteMsg(&b, &pb.MailboxRequest{Id: 7, Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: pattern(16, 0), Blob: pattern(MaxBlobSize, 0)}}})
	a := &countAcct{limit: 4 << 20}
	r := NewReader(bytes.NewReader(b.Bytes()), MaxMailboxRequest)
	r.SetAccount(a)
	var m pb.MailboxRequest
	if err := r.ReadMsg(&m); err != nil {
		t.Fatal(err)
	}
	if a.held != 0 || a.peak < MaxBlobSize || a.peak > 2*MaxMailboxRequest {
		t.Fatalf("held %d peak %d", a.held, a.peak)
	}
	a = &countAcct{limit: 256 << 10}
	r = NewReader(bytes.NewReader(b.Bytes()), MaxMailboxRequest)
	r.SetAccount(a)
	if err := r.ReadMsg(&m); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("over budget: %v", err)
	}
	if a.held != 0 {
		t.Fatalf("held %d after a refused frame", a.held)
	}
}

// FuzzScan: the pre-scan never panics, and whenever it accepts a body that
// protobuf then decodes, the decoded message has no repeated field over its
// cap and no oneof set twice (re-encoding it scans clean too); a body Scan
// refuses is never decoded by Unmarshal.
func FuzzScan(f *testing.F) {
	seedVectors(f, "imigee.v1.MailboxRequest", false)
	seedVectors(f, "imigee.v1.RendezvousRequest", false)
	f.Add(nestedGroups(40))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, m := range []proto.Message{&pb.MailboxRequest{}, &pb.RendezvousRequest{}} {
			_, serr := Scan(data, m.ProtoReflect().Descriptor())
			uerr := Unmarshal(data, m)
			if serr != nil && uerr == nil {
				t.Fatalf("Scan refused (%v) but Unmarshal decoded", serr)
			}
			if uerr != nil {
				continue
			}
			again, err := proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := Scan(again, m.ProtoReflect().Descriptor()); err != nil {
				t.Fatalf("re-encoded message fails Scan: %v", err)
			}
		}
	})
}

// TestScanCapsMatchValidators: a full contact batch (2048 blinded elements,
// above the default MaxRepeated) passes the scan; one more does not.
func TestScanCapsMatchValidators(t *testing.T) {
	blinded := make([][]byte, MaxContactBatch)
	for i := range blinded {
		blinded[i] = make([]byte, 32)
	}
	enc, _ := proto.Marshal(&pb.ContactEvaluate{Blinded: blinded})
	var m pb.ContactEvaluate
	if _, err := Scan(enc, m.ProtoReflect().Descriptor()); err != nil {
		t.Fatalf("full batch: %v", err)
	}
	enc, _ = proto.Marshal(&pb.ContactEvaluate{Blinded: append(blinded, make([]byte, 32))})
	if _, err := Scan(enc, m.ProtoReflect().Descriptor()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("batch + 1: %v", err)
	}
}

// TestEveryRepeatedFieldHasAScanCap: the pre-scan refuses a repeated field
// above MaxRepeated unless scanCaps says otherwise, so a new repeated field
// whose validator allows more would be refused by the scan. This lists
// every repeated field of the wire messages with its validator's cap; a new
// one fails here until it is added (and to scanCaps if above 1024).
func TestEveryRepeatedFieldHasAScanCap(t *testing.T) {
	known := map[string]int{
		"imigee.v1.Fetch.auth": MaxAuthsPerRequest, "imigee.v1.Ack.auth": MaxAuthsPerRequest, "imigee.v1.Ack.blobs": MaxBlobRefsPerAck,
		"imigee.v1.Subscribe.auth": MaxAuthsPerRequest, "imigee.v1.Forget.auth": MaxAuthsPerRequest, "imigee.v1.FetchResult.blobs": MaxBlobsPerFetch,
		"imigee.v1.Announcement.tokens": MaxTokensPerAnnouncement, "imigee.v1.Announce.announcements": MaxAnnouncements,
		"imigee.v1.AnnounceResult.matches": MaxMatchesPerResult, "imigee.v1.RendezvousGossip.announcements": MaxAnnouncements,
		"imigee.v1.ContactEvaluate.blinded": MaxContactBatch, "imigee.v1.ContactEvaluateResult.evaluated": MaxContactBatch,
		"imigee.v1.ContactPost.entries": MaxContactEntriesPerPost, "imigee.v1.ContactPostResult.matches": MaxContactMatchesPerResult,
		"imigee.v1.ContactPostResult.expires_unix": MaxContactEntriesPerPost, "imigee.v1.ContactWithdraw.entries": MaxContactWithdrawals,
		"imigee.v1.AggPrepare.items": MaxAggItems, "imigee.v1.AggResponse.prep_messages": MaxAggItems,
		"imigee.v1.PushRegister.auth":     MaxAuthsPerRequest,
		"imigee.v1.HistoryForget.secrets": MaxForgetSecrets, "imigee.v1.RendezvousGossip.forget": MaxForgetSecrets,
		"imigee.v1.RendezvousGossipBatch.items": MaxGossipBatch,
	}
	_ = pb.File_mailbox_proto // registers the package's files
	var seen int
	protoregistry.GlobalFiles.RangeFilesByPackage("imigee.v1", func(f protoreflect.FileDescriptor) bool {
		msgs := f.Messages()
		for i := range msgs.Len() {
			md := msgs.Get(i)
			fields := md.Fields()
			for j := range fields.Len() {
				fd := fields.Get(j)
				if fd.Cardinality() != protoreflect.Repeated {
					continue
				}
				seen++
				name := string(md.FullName()) + "." + string(fd.Name())
				want, ok := known[name]
				if !ok {
					t.Errorf("repeated field %s: add its validator's cap here (and to scanCaps if above %d)", name, MaxRepeated)
					continue
				}
				got := MaxRepeated
				if c, ok := scanCaps[md.FullName()][fd.Number()]; ok {
					got = c
				}
				if got < want {
					t.Errorf("%s: scan cap %d below the validator's %d", name, got, want)
				}
			}
		}
		return true
	})
	if seen < len(known) {
		t.Errorf("saw %d repeated fields, know %d", seen, len(known))
	}
}

func TestPeekID(t *testing.T) {
	withID := func(pre []byte) []byte {
		b := protowire.AppendTag(pre, 1, protowire.VarintType)
		return protowire.AppendVarint(b, 42)
	}
	other := protowire.AppendBytes(protowire.AppendTag(nil, 5, protowire.BytesType), []byte("x"))
	for _, c := range []struct {
		name string
		body []byte
		want uint64
	}{
		{"first", withID(nil), 42},
		{"after another field", withID(other), 42},
		{"absent", other, 0},
		{"empty", nil, 0},
		{"truncated varint", []byte{0x08, 0x80}, 0},
		{"bad tag", []byte{0xff}, 0},
	} {
		if got := PeekID(c.body); got != c.want {
			t.Errorf("%s: PeekID = %d, want %d", c.name, got, c.want)
		}
	}
}
