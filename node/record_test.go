package node

import (
	"crypto/rand"
	"errors"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/imigee/imigee/crypto"
)

func testPeerID(t testing.TB) peer.ID {
	t.Helper()
	id, err := peer.Decode("12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq")
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRecordRoundTrip: what one friend's share opens is this device's
// peer ID and addresses for that epoch, and only that epoch.
func TestRecordRoundTrip(t *testing.T) {
	a, _ := crypto.NewIdentity(rand.Reader)
	b, _ := crypto.NewIdentity(rand.Reader)
	ab, _ := crypto.DerivePair(a, b.Card())
	ba, _ := crypto.DerivePair(b, a.Card())
	pid := testPeerID(t)
	addrs := []ma.Multiaddr{ma.StringCast("/ip4/192.0.2.1/udp/4001/quic-v1"), ma.StringCast("/ip4/198.51.100.7/tcp/4001")}
	plain, err := encodeRecord(77, pid, addrs)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := crypto.NewRecordSeed(rand.Reader)
	sealed, err := crypto.SealSharedRecord(rand.Reader, seed, 77, plain)
	if err != nil {
		t.Fatal(err)
	}
	share := ab.RecordShare(77, seed)
	opened, err := ba.OpenSharedRecord(77, share[:], sealed)
	if err != nil {
		t.Fatal(err)
	}
	gotID, gotAddrs, err := decodeRecord(77, opened)
	if err != nil || gotID != pid || len(gotAddrs) != 2 || !gotAddrs[1].Equal(addrs[1]) {
		t.Fatalf("got %s %v %v", gotID, gotAddrs, err)
	}
	if _, _, err := decodeRecord(78, opened); !errors.Is(err, errBadRecord) {
		t.Fatalf("record of epoch 77 decodes as 78: %v", err)
	}
}

// FuzzDecodeRecord: an opened record is still the friend's bytes; any
// input gives a record or errBadRecord, never a panic.
func FuzzDecodeRecord(f *testing.F) {
	pid := testPeerID(f)
	good, _ := encodeRecord(5, pid, []ma.Multiaddr{ma.StringCast("/ip4/192.0.2.1/udp/4001/quic-v1")})
	f.Add(uint64(5), good)
	f.Add(uint64(5), good[:12])
	f.Add(uint64(0), []byte{recordVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, epoch uint64, b []byte) {
		if _, _, err := decodeRecord(epoch, b); err != nil && !errors.Is(err, errBadRecord) {
			t.Fatalf("unexpected error %v", err)
		}
	})
}
