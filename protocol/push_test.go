package protocol

import (
	"bytes"
	"strings"
	"testing"

	"github.com/imigee/imigee/protocol/pb"
)

func pushAuth(b byte) *pb.MailboxAuth {
	return &pb.MailboxAuth{MailboxId: bytes.Repeat([]byte{b}, MailboxIDSize),
		Pub: bytes.Repeat([]byte{b}, PublicKeySize), Sig: bytes.Repeat([]byte{b}, SignatureSize)}
}

func TestValidatePushRegister(t *testing.T) {
	ok := []*pb.PushRegister{
		{Auth: []*pb.MailboxAuth{pushAuth(1)}, Endpoint: "https://push.example.org/up/abc"},
		{Auth: []*pb.MailboxAuth{pushAuth(1), pushAuth(2)}, Endpoint: "http://127.0.0.1:8080/x?k=v"},
		{Auth: []*pb.MailboxAuth{pushAuth(1)}}, // remove
	}
	for i, m := range ok {
		if err := ValidatePushRegister(m); err != nil {
			t.Errorf("ok %d: %v", i, err)
		}
	}
	bad := []*pb.PushRegister{
		{Endpoint: "https://push.example.org/"},                                             // no auth
		{Auth: []*pb.MailboxAuth{pushAuth(1), pushAuth(1)}, Endpoint: "https://p.example/"}, // duplicate
		{Auth: []*pb.MailboxAuth{pushAuth(1)}, Endpoint: "file:///etc/passwd"},
		{Auth: []*pb.MailboxAuth{pushAuth(1)}, Endpoint: "https://user:pw@p.example/"},
		{Auth: []*pb.MailboxAuth{pushAuth(1)}, Endpoint: "/relative"},
		{Auth: []*pb.MailboxAuth{pushAuth(1)}, Endpoint: "https://p.example/" + strings.Repeat("a", MaxPushEndpointLen)},
		{Auth: []*pb.MailboxAuth{{MailboxId: []byte{1}}}, Endpoint: "https://p.example/"},
	}
	for i, m := range bad {
		if err := ValidatePushRegister(m); err == nil {
			t.Errorf("bad %d accepted", i)
		}
	}
}

// FuzzReadPushRegister: any bytes give a valid message or an error, never
// a panic, and an accepted message passes validation again after a
// round trip.
func FuzzReadPushRegister(f *testing.F) {
	for _, m := range []*pb.PushRegister{
		{Auth: []*pb.MailboxAuth{pushAuth(1)}, Endpoint: "https://push.example.org/up/abc", TtlSeconds: 3600},
		{Auth: []*pb.MailboxAuth{pushAuth(1)}},
	} {
		var buf bytes.Buffer
		if err := WriteMsg(&buf, m); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
		f.Add(buf.Bytes()[:buf.Len()/2])
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		var m pb.PushRegister
		if err := ReadPushRegister(bytes.NewReader(b), &m); err != nil {
			return
		}
		var buf bytes.Buffer
		if err := WriteMsg(&buf, &m); err != nil {
			t.Fatal(err)
		}
		var m2 pb.PushRegister
		if err := ReadPushRegister(&buf, &m2); err != nil {
			t.Fatalf("round trip: %v", err)
		}
	})
}

// FuzzReadPushChallengeResult covers the node's side: what a relay sends.
func FuzzReadPushChallengeResult(f *testing.F) {
	var buf bytes.Buffer
	_ = WriteMsg(&buf, &pb.PushChallenge{Nonce: bytes.Repeat([]byte{7}, ChallengeSize)})
	f.Add(buf.Bytes())
	buf.Reset()
	_ = WriteMsg(&buf, &pb.PushResult{Registered: 3, ExpiresUnix: 1})
	f.Add(buf.Bytes())
	buf.Reset()
	_ = WriteMsg(&buf, &pb.PushResult{Error: &pb.Error{Code: pb.ErrorCode_REJECTED, Detail: "no"}})
	f.Add(buf.Bytes())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var c pb.PushChallenge
		if ReadPushChallenge(bytes.NewReader(b), &c) == nil && len(c.Nonce) != ChallengeSize {
			t.Fatal("bad nonce accepted")
		}
		var r pb.PushResult
		_ = ReadPushResult(bytes.NewReader(b), &r)
	})
}
