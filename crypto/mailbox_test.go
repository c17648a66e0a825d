package crypto

import (
	"crypto/ed25519"
	"errors"
	"testing"
)

func TestMailboxAuth(t *testing.T) {
	priv := ed25519.NewKeyFromSeed(make([]byte, 32))
	pub := priv.Public().(ed25519.PublicKey)
	ch := []byte("relay-challenge-0001")
	id, sig := SignMailboxAuth(priv, OpFetch, ch)
	if id != MailboxIDFromPub(pub) {
		t.Fatal("id does not match the public key")
	}
	if err := VerifyMailboxAuth(OpFetch, ch, id, pub, sig); err != nil {
		t.Fatal(err)
	}
	other := id
	other[0] ^= 1
	bad := []struct {
		name string
		op   MailboxOp
		ch   []byte
		id   MailboxID
		pub  []byte
		sig  []byte
	}{
		{"other op", OpAck, ch, id, pub, sig},
		{"other challenge", OpFetch, []byte("relay-challenge-0002"), id, pub, sig},
		{"other id", OpFetch, ch, other, pub, sig},
		{"short pub", OpFetch, ch, id, pub[:31], sig},
		{"short sig", OpFetch, ch, id, pub, sig[:63]},
	}
	for _, b := range bad {
		if err := VerifyMailboxAuth(b.op, b.ch, b.id, b.pub, b.sig); !errors.Is(err, ErrMailboxAuth) {
			t.Errorf("%s: %v", b.name, err)
		}
	}
}
