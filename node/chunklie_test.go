package node

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"testing"

	"github.com/imigee/imigee/crypto"
	proto "github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// TestLyingSenderChunks plays a friend that lies on the share stream after
// an auto-accepted offer: chunks swapped between indexes, a stream cut
// after the first of two chunks, a chunk marked last too early,
// a chunk of another item, an index past the end. The chunks reach the
// receiver's zero-copy path (protocol.DecodePeerFrame into a pooled frame
// buffer, opened by partWriter): none of them may deliver the item, and
// the honest stream in the same rig does (so the rig reaches that path).
func TestLyingSenderChunks(t *testing.T) {
	rig := newFuzzRig(t)
	if err := rig.n.SetAutoAccept(rig.f.id, true); err != nil {
		t.Fatal(err)
	}
	sealer, err := crypto.NewSealer(rig.friendID, rig.n.id.BoxPub())
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.NewStreamKey(rand.Reader, 0)
	if err != nil {
		t.Fatal(err)
	}
	cs := int(key.ChunkSize)
	plain := make([]byte, cs+100) // two chunks
	_, _ = rand.Read(plain)
	p0, p1 := plain[:cs], plain[cs:]
	seal := func(i uint32, last bool, p []byte) []byte {
		b, err := key.SealChunk(nil, i, last, p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	c0, c1 := seal(0, false, p0), seal(1, true, p1)

	// stream is a Hello, an offer of a fresh item and then the given
	// chunks (data by index) as the frames of that item or of other.
	type chunk struct {
		index uint32
		data  []byte
		other bool // another item's ID
	}
	stream := func(chunks ...chunk) (string, []byte) {
		idb := make([]byte, 16)
		_, _ = rand.Read(idb)
		var id16 [16]byte
		copy(id16[:], idb)
		kb, _ := key.MarshalBinary()
		h := sha256.Sum256(plain)
		meta, _ := json.Marshal(offerMeta{Type: TypePhoto, Size: int64(len(plain)), Hash: h[:], Key: kb})
		off, err := sealer.Seal(rand.Reader, crypto.Header{Type: crypto.TypeOffer, ItemID: id16, Created: rig.clock.Now().Unix()}, meta)
		if err != nil {
			t.Fatal(err)
		}
		in := append([]byte(nil), rig.hello...)
		in = append(in, frame(&pb.PeerFrame{Body: &pb.PeerFrame_Offer{Offer: &pb.Offer{ItemId: idb, Sealed: off}}})...)
		other := make([]byte, 16)
		_, _ = rand.Read(other)
		for _, c := range chunks {
			cid := idb
			if c.other {
				cid = other
			}
			// The sender's own frame writer: the canonical chunk frame,
			// which takes the receiver's fast path.
			hdr := proto.AppendChunkFrameHeader(nil, cid, c.index, len(c.data))
			in = append(append(in, hdr...), c.data...)
		}
		return hex.EncodeToString(idb), in
	}
	delivered := func(id string) bool {
		_, ok := rig.n.seen(id)
		return ok
	}

	id, in := stream(chunk{0, c0, false}, chunk{1, c1, false})
	rig.run(in)
	if !delivered(id) {
		t.Fatal("the honest stream did not deliver: the rig does not reach the chunk path")
	}

	lies := map[string][]chunk{
		"swapped indexes":      {{0, c1, false}, {1, c0, false}},
		"stream cut short":     {{0, c0, false}},
		"first chunk as last":  {{0, seal(0, true, p0), false}, {1, c1, false}},
		"another item's chunk": {{0, c0, false}, {1, c1, true}},
		"index past the end":   {{0, c0, false}, {2, c1, false}},
		"chunk 1 sent twice":   {{1, c1, false}, {1, c1, false}},
		"chunk flipped":        {{0, c0, false}, {1, append(append([]byte(nil), c1[:len(c1)-1]...), c1[len(c1)-1]^1), false}},
	}
	for name, chunks := range lies {
		id, in := stream(chunks...)
		rig.run(in)
		if delivered(id) {
			t.Errorf("%s: the item was delivered", name)
		}
	}
}
