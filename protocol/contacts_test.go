package protocol

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"io"
	"math"
	"os"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol/pb"
)

// The contacts protocol keeps its vectors in their own file
// (testdata/contacts.json, same layout as vectors.json) so the shared
// builders stay untouched.
const contactVectorsFile = "testdata/contacts.json"

func contactMessages() []namedMsg {
	ch := pattern(ChallengeSize, 0xc0)
	el := func(tag byte) []byte { return pattern(ContactElementSize, tag) }
	entry := &pb.ContactEntry{EntryId: pattern(ContactEntryIDSize, 0xe0), SealedOffer: pattern(SealedContactOfferSize, 0x50), WithdrawHash: pattern(ContactWithdrawSize, 0x90)}
	req := func(b any) *pb.ContactsRequest {
		m := &pb.ContactsRequest{Id: 7}
		switch b := b.(type) {
		case *pb.ContactsChallengeRequest:
			m.Body = &pb.ContactsRequest_Challenge{Challenge: b}
		case *pb.ContactEvaluate:
			m.Body = &pb.ContactsRequest_Evaluate{Evaluate: b}
		case *pb.ContactPost:
			m.Body = &pb.ContactsRequest_Post{Post: b}
		case *pb.ContactWithdraw:
			m.Body = &pb.ContactsRequest_Withdraw{Withdraw: b}
		}
		return m
	}
	resp := func(b any) *pb.ContactsResponse {
		m := &pb.ContactsResponse{Id: 7}
		switch b := b.(type) {
		case *pb.ContactsChallenge:
			m.Body = &pb.ContactsResponse_Challenge{Challenge: b}
		case *pb.ContactEvaluateResult:
			m.Body = &pb.ContactsResponse_Evaluate{Evaluate: b}
		case *pb.ContactPostResult:
			m.Body = &pb.ContactsResponse_Post{Post: b}
		case *pb.ContactWithdrawResult:
			m.Body = &pb.ContactsResponse_Withdraw{Withdraw: b}
		}
		return m
	}
	const rq, rs = MaxContactsRequest, MaxContactsResponse
	return []namedMsg{
		{"contacts_request/challenge", rq, req(&pb.ContactsChallengeRequest{}), pb.ErrorCode_OK},
		{"contacts_request/evaluate", rq, req(&pb.ContactEvaluate{Challenge: ch, PowNonce: 123456, Blinded: [][]byte{el(1), el(2)}}), pb.ErrorCode_OK},
		{"contacts_request/post", rq, req(&pb.ContactPost{Challenge: ch, PowNonce: 99, Entries: []*pb.ContactEntry{entry}}), pb.ErrorCode_OK},
		{"contacts_request/withdraw", rq, req(&pb.ContactWithdraw{Entries: []*pb.ContactWithdrawal{{EntryId: entry.EntryId, WithdrawSecret: pattern(32, 0x33)}}}), pb.ErrorCode_OK},
		{"contacts_response/challenge", rs, resp(&pb.ContactsChallenge{Nonce: ch, ExpiresUnix: 1_780_000_060, Difficulty: 20, PublicKey: el(0x70), MaxBatch: MaxContactBatch}), pb.ErrorCode_OK},
		{"contacts_response/evaluate", rs, resp(&pb.ContactEvaluateResult{Evaluated: [][]byte{el(3), el(4)}, Proof: pattern(ContactProofSize, 0xa0)}), pb.ErrorCode_OK},
		{"contacts_response/post", rs, resp(&pb.ContactPostResult{Matches: []*pb.ContactMatch{{EntryId: entry.EntryId, SealedOffer: pattern(SealedContactOfferSize, 0x60)}}, ExpiresUnix: []int64{1_782_592_000}}), pb.ErrorCode_OK},
		{"contacts_response/withdraw", rs, resp(&pb.ContactWithdrawResult{Removed: 1}), pb.ErrorCode_OK},
		{"contacts_response/error", rs, &pb.ContactsResponse{Id: 7, Error: &pb.Error{Code: pb.ErrorCode_RATE_LIMITED, Detail: "evaluations per day"}}, pb.ErrorCode_OK},

		{"invalid/contacts_request/zero_id", rq, &pb.ContactsRequest{Body: &pb.ContactsRequest_Challenge{Challenge: &pb.ContactsChallengeRequest{}}}, badRequest},
		{"invalid/contacts_request/no_body", rq, &pb.ContactsRequest{Id: 1}, unsupported},
		{"invalid/contacts_request/evaluate_empty", rq, req(&pb.ContactEvaluate{Challenge: ch}), badRequest},
		{"invalid/contacts_request/evaluate_short_element", rq, req(&pb.ContactEvaluate{Challenge: ch, Blinded: [][]byte{pattern(31, 0)}}), badRequest},
		{"invalid/contacts_request/post_short_offer", rq, req(&pb.ContactPost{Challenge: ch, Entries: []*pb.ContactEntry{{EntryId: entry.EntryId, SealedOffer: pattern(100, 0), WithdrawHash: entry.WithdrawHash}}}), badRequest},
		{"invalid/contacts_request/post_repeated_id", rq, req(&pb.ContactPost{Challenge: ch, Entries: []*pb.ContactEntry{entry, entry}}), badRequest},
		{"invalid/contacts_request/withdraw_short_secret", rq, req(&pb.ContactWithdraw{Entries: []*pb.ContactWithdrawal{{EntryId: entry.EntryId, WithdrawSecret: pattern(16, 0)}}}), badRequest},
		{"invalid/contacts_response/difficulty_over_bound", rs, resp(&pb.ContactsChallenge{Nonce: ch, ExpiresUnix: 1, Difficulty: MaxContactPoWBits + 1}), badRequest},
		{"invalid/contacts_response/evaluate_short_proof", rs, resp(&pb.ContactEvaluateResult{Evaluated: [][]byte{el(3)}, Proof: pattern(32, 0)}), badRequest},
		{"invalid/contacts_response/error_and_body", rs, &pb.ContactsResponse{Id: 7, Error: &pb.Error{Code: pb.ErrorCode_INTERNAL}, Body: &pb.ContactsResponse_Withdraw{Withdraw: &pb.ContactWithdrawResult{}}}, badRequest},
	}
}

func readContacts(typ string, frame []byte) error {
	if typ == "imigee.v1.ContactsRequest" {
		return ReadContactsRequest(bytes.NewReader(frame), &pb.ContactsRequest{})
	}
	return ReadContactsResponse(bytes.NewReader(frame), &pb.ContactsResponse{})
}

func buildContactVectors(t testing.TB) vectorFile {
	vf := vectorFile{Comment: "Imigee contacts protocol (/imigee/contacts/1) vectors, generated by `go test ./protocol -run TestContactsVectors -update`; same layout as vectors.json."}
	for _, nm := range contactMessages() {
		body, err := marshalOpts.Marshal(nm.msg)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if err := WriteMsg(&buf, nm.msg); err != nil {
			t.Fatal(err)
		}
		v := vector{Name: nm.name, Type: string(nm.msg.ProtoReflect().Descriptor().FullName()), Cap: nm.cap,
			Message: hex.EncodeToString(body), Frame: hex.EncodeToString(buf.Bytes())}
		if nm.code != pb.ErrorCode_OK {
			v.Error = nm.code.String()
		}
		vf.Vectors = append(vf.Vectors, v)
	}
	return vf
}

// TestContactsVectors checks testdata/contacts.json against the builders
// and runs every frame through its decoder: valid ones decode, invalid
// ones give their code.
func TestContactsVectors(t *testing.T) {
	built := buildContactVectors(t)
	if *update {
		data, _ := json.MarshalIndent(built, "", "  ")
		if err := os.WriteFile(contactVectorsFile, append(data, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(contactVectorsFile)
	if err != nil {
		t.Fatalf("%v (generate with -update)", err)
	}
	var vf vectorFile
	if err := json.Unmarshal(data, &vf); err != nil {
		t.Fatal(err)
	}
	if len(vf.Vectors) != len(built.Vectors) {
		t.Fatalf("file has %d vectors, builders %d: run with -update", len(vf.Vectors), len(built.Vectors))
	}
	for i, v := range vf.Vectors {
		if v != built.Vectors[i] {
			t.Fatalf("%s: file differs from the builder (run with -update for an intended change)", v.Name)
		}
		frame, _ := hex.DecodeString(v.Frame)
		err := readContacts(v.Type, frame)
		if v.Error == "" && err != nil {
			t.Errorf("%s: %v", v.Name, err)
		}
		if v.Error != "" && Code(err).String() != v.Error {
			t.Errorf("%s: got %v, want %s", v.Name, err, v.Error)
		}
	}
}

// TestContactsLargestFitsCap: the largest valid request and response fit
// their frame caps.
func TestContactsLargestFitsCap(t *testing.T) {
	entries := make([]*pb.ContactEntry, MaxContactEntriesPerPost)
	for i := range entries {
		id := pattern(ContactEntryIDSize, 0)
		id[0], id[1] = byte(i), byte(i>>8)
		entries[i] = &pb.ContactEntry{EntryId: id, SealedOffer: pattern(SealedContactOfferSize, 1), WithdrawHash: pattern(32, 2)}
	}
	els := make([][]byte, MaxContactBatch)
	for i := range els {
		els[i] = pattern(ContactElementSize, byte(i))
	}
	matches := make([]*pb.ContactMatch, MaxContactMatchesPerResult)
	for i := range matches {
		matches[i] = &pb.ContactMatch{EntryId: pattern(32, 0), SealedOffer: pattern(SealedContactOfferSize, 3)}
	}
	wd := make([]*pb.ContactWithdrawal, MaxContactWithdrawals)
	for i := range wd {
		wd[i] = &pb.ContactWithdrawal{EntryId: pattern(32, 0), WithdrawSecret: pattern(32, 1)}
	}
	exp := make([]int64, MaxContactEntriesPerPost)
	for i := range exp {
		exp[i] = math.MinInt64
	}
	cases := []struct {
		cap int
		m   proto.Message
	}{
		{MaxContactsRequest, &pb.ContactsRequest{Id: math.MaxUint64, Body: &pb.ContactsRequest_Post{Post: &pb.ContactPost{Challenge: pattern(32, 0), PowNonce: math.MaxUint64, Entries: entries}}}},
		{MaxContactsRequest, &pb.ContactsRequest{Id: math.MaxUint64, Body: &pb.ContactsRequest_Evaluate{Evaluate: &pb.ContactEvaluate{Challenge: pattern(32, 0), PowNonce: math.MaxUint64, Blinded: els}}}},
		{MaxContactsRequest, &pb.ContactsRequest{Id: math.MaxUint64, Body: &pb.ContactsRequest_Withdraw{Withdraw: &pb.ContactWithdraw{Entries: wd}}}},
		{MaxContactsResponse, &pb.ContactsResponse{Id: math.MaxUint64, Body: &pb.ContactsResponse_Post{Post: &pb.ContactPostResult{Matches: matches, ExpiresUnix: exp}}}},
		{MaxContactsResponse, &pb.ContactsResponse{Id: math.MaxUint64, Body: &pb.ContactsResponse_Evaluate{Evaluate: &pb.ContactEvaluateResult{Evaluated: els, Proof: pattern(64, 0)}}}},
	}
	for i, c := range cases {
		var err error
		switch m := c.m.(type) {
		case *pb.ContactsRequest:
			err = ValidateContactsRequest(m)
		case *pb.ContactsResponse:
			err = ValidateContactsResponse(m)
		}
		if err != nil {
			t.Fatalf("case %d not valid: %v", i, err)
		}
		if n := proto.Size(c.m); n > c.cap {
			t.Errorf("case %d: %d bytes exceed cap %d", i, n, c.cap)
		}
	}
}

// TestContactSizesMatchCrypto keeps the wire sizes equal to crypto's.
func TestContactSizesMatchCrypto(t *testing.T) {
	pairs := [][2]int{
		{ContactElementSize, crypto.ContactElementSize},
		{ContactProofSize, crypto.ContactProofSize},
		{ContactPublicKeySize, crypto.ContactPublicKeySize},
		{SealedContactOfferSize, crypto.SealedContactOfferSize},
		{MaxContactBatch, crypto.MaxContactBatch},
	}
	for i, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("size %d: protocol %d, crypto %d", i, p[0], p[1])
		}
	}
}

func FuzzContactsRequest(f *testing.F) {
	seedContacts(f, "imigee.v1.ContactsRequest")
	fuzzFramed(f, MaxContactsRequest, func() *pb.ContactsRequest { return &pb.ContactsRequest{} }, func(r io.Reader, m *pb.ContactsRequest) error { return ReadContactsRequest(r, m) })
}

func FuzzContactsResponse(f *testing.F) {
	seedContacts(f, "imigee.v1.ContactsResponse")
	fuzzFramed(f, MaxContactsResponse, func() *pb.ContactsResponse { return &pb.ContactsResponse{} }, func(r io.Reader, m *pb.ContactsResponse) error { return ReadContactsResponse(r, m) })
}

func seedContacts(f *testing.F, typ string) {
	for _, nm := range contactMessages() {
		if string(nm.msg.ProtoReflect().Descriptor().FullName()) != typ {
			continue
		}
		var buf bytes.Buffer
		if err := WriteMsg(&buf, nm.msg); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
}
