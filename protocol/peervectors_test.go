package protocol

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/protocol/pb"
)

// TestPeerVectorFrames reads the frames of testdata/peer.json (written by
// package node's TestPeerVectors) with this package's readers: each is a
// valid frame under its stream's cap and re-encodes to the same bytes, so
// the peer vectors and the wire rules of this package cannot drift apart.
func TestPeerVectorFrames(t *testing.T) {
	raw, err := os.ReadFile("testdata/peer.json")
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	frame := func(name string) []byte {
		s, _ := v[name].(string)
		b, err := hex.DecodeString(s)
		if err != nil || len(b) == 0 {
			t.Fatalf("%s: %v", name, err)
		}
		return b
	}
	var lr pb.LinkRequest
	f := frame("link_request_frame")
	if err := ReadLinkRequest(bytes.NewReader(f), &lr); err != nil {
		t.Fatalf("link request: %v", err)
	}
	if len(f) > MaxLinkFrame {
		t.Fatalf("link request frame of %d bytes", len(f))
	}
	checkReencode(t, "link_request_frame", f, &lr)
	var lresp pb.LinkResponse
	f = frame("link_response_frame")
	if err := ReadLinkResponse(bytes.NewReader(f), &lresp); err != nil || lresp.Error != nil {
		t.Fatalf("link response: %v", err)
	}
	checkReencode(t, "link_response_frame", f, &lresp)
	for _, name := range []string{"hello_frame_i", "hello_frame_p", "receipt_frame_file"} {
		var m pb.PeerFrame
		f := frame(name)
		if err := ReadPeerFrame(bytes.NewReader(f), &m); err != nil || m.Body == nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkReencode(t, name, f, &m)
	}
}

func checkReencode(t *testing.T, name string, f []byte, m proto.Message) {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteMsg(&buf, m); err != nil || !bytes.Equal(buf.Bytes(), f) {
		t.Fatalf("%s does not re-encode to the same bytes (%v)", name, err)
	}
}
