package crypto

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"testing"
)

func checkCards(t *testing.T, v any) {
	for _, c := range *v.(*[]cardVector) {
		card, err := ParseCard(c.Card)
		if err != nil {
			t.Fatalf("%s: ParseCard: %v", c.Name, err)
		}
		id, err := UnmarshalIdentity(c.Identity)
		if err != nil {
			t.Fatalf("%s: UnmarshalIdentity: %v", c.Name, err)
		}
		if id.Card() != card || card.Fingerprint() != c.Fingerprint || card.Created != c.Created {
			t.Fatalf("%s: identity, card and fingerprint disagree", c.Name)
		}
	}
}

func checkPairs(t *testing.T, v any) {
	for _, p := range *v.(*[]pairVector) {
		a, err := UnmarshalIdentity(p.A)
		if err != nil {
			t.Fatal(err)
		}
		b, err := UnmarshalIdentity(p.B)
		if err != nil {
			t.Fatal(err)
		}
		ab, err := UnmarshalPairKeys(p.Keys)
		if err != nil {
			t.Fatal(err)
		}
		ba, err := DerivePairWithSecret(b, a.Card(), p.LinkSecret)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Days {
			for _, pk := range []*PairKeys{ab, ba} {
				k, err := pk.DayKey(d.Day)
				if err != nil || !bytes.Equal(k[:], d.Key) {
					t.Fatalf("%s: day %d key mismatch (%v)", p.Name, d.Day, err)
				}
			}
		}
		for _, e := range p.Epochs {
			for _, pk := range []*PairKeys{ab, ba} {
				k, err := pk.EpochTokenKey(e.Epoch, e.EpochSeconds)
				if err != nil || !bytes.Equal(k[:], e.Key) {
					t.Fatalf("%s: epoch %d key mismatch (%v)", p.Name, e.Epoch, err)
				}
			}
		}
		for _, m := range p.Mailboxes {
			// A's "to friend" mailbox is B's "from friend" one.
			for _, k := range [][]byte{ab.MailboxKey(m.Day, m.AToB)[32:], ba.MailboxKey(m.Day, !m.AToB)[32:]} {
				if !bytes.Equal(k, m.Pub) {
					t.Fatalf("%s: mailbox key day %d a_to_b=%v mismatch", p.Name, m.Day, m.AToB)
				}
			}
			id := ba.MailboxID(m.Day, !m.AToB)
			if !bytes.Equal(id[:], m.MailboxID) {
				t.Fatalf("%s: mailbox id mismatch", p.Name)
			}
		}
		if h := ba.Hint(p.HintEpoch); !bytes.Equal(h[:], p.Hint) {
			t.Fatalf("%s: hint mismatch", p.Name)
		}
		if !ba.VerifyProof(p.HintEpoch, p.Transcript, p.ProofA) {
			t.Fatalf("%s: B rejects A's proof", p.Name)
		}
		if SafetyNumber(b.Card(), a.Card()) != p.SafetyNumbr {
			t.Fatalf("%s: safety number mismatch", p.Name)
		}
		if r, err := ba.OpenRecord(p.RecordEpoch, p.SealedRec); err != nil || !bytes.Equal(r, p.Record) {
			t.Fatalf("%s: B cannot open A's record: %v", p.Name, err)
		}
		var seed RecordSeed
		copy(seed[:], p.Seed)
		if sh := ab.RecordShare(p.RecordEpoch, seed); !bytes.Equal(sh[:], p.Share) {
			t.Fatalf("%s: share mismatch", p.Name)
		}
		if r, err := ba.OpenSharedRecord(p.RecordEpoch, p.Share, p.SharedSealed); err != nil || !bytes.Equal(r, p.Record) {
			t.Fatalf("%s: B cannot open A's shared record: %v", p.Name, err)
		}
		// The ratchet erases: after advancing, earlier days are gone.
		last := p.Days[len(p.Days)-1].Day
		ab.Advance(last)
		if _, err := ab.DayKey(last - 1); !errors.Is(err, ErrKeyErased) {
			t.Fatalf("%s: day before the held one: err %v, want ErrKeyErased", p.Name, err)
		}
	}
}

func checkTokens(t *testing.T, v any) {
	for _, tv := range *v.(*[]tokenVector) {
		var k EpochKey
		copy(k[:], tv.EpochKey)
		if tok := Token(k, tv.Level, tv.Cell); !bytes.Equal(tok[:], tv.Token) {
			t.Fatalf("token level %d cell %x mismatch", tv.Level, tv.Cell)
		}
	}
}

func checkEnvelopes(t *testing.T, v any) {
	for _, e := range *v.(*[]envelopeVector) {
		var priv [32]byte
		copy(priv[:], e.RecipientPriv)
		o, err := Open(&priv, e.Sealed)
		if err != nil {
			t.Fatalf("%s: open: %v", e.Name, err)
		}
		sender, err := UnmarshalIdentity(e.Sender)
		if err != nil {
			t.Fatal(err)
		}
		if o.SenderBox != sender.BoxPub() || uint8(o.Type) != e.Type || !bytes.Equal(o.ItemID[:], e.ItemID) ||
			o.Created != e.Created || !bytes.Equal(o.Payload, e.Payload) {
			t.Fatalf("%s: opened fields differ", e.Name)
		}
		if len(e.Sealed) != PaddedSize(len(e.Payload)) {
			t.Fatalf("%s: sealed %d bytes, want bucket %d", e.Name, len(e.Sealed), PaddedSize(len(e.Payload)))
		}
	}
}

func checkStreams(t *testing.T, v any) {
	for _, s := range *v.(*[]streamVector) {
		k, err := ParseStreamKey(s.Key)
		if err != nil {
			t.Fatal(err)
		}
		var got []byte
		for i, c := range s.Chunks {
			var last bool
			got, last, err = k.OpenChunk(got, uint32(i), c)
			if err != nil {
				t.Fatalf("%s: chunk %d: %v", s.Name, i, err)
			}
			if last != (i == len(s.Chunks)-1) {
				t.Fatalf("%s: chunk %d last=%v", s.Name, i, last)
			}
		}
		if !bytes.Equal(got, s.Content) {
			t.Fatalf("%s: content mismatch", s.Name)
		}
	}
}

func checkPrekeys(t *testing.T, v any) {
	for _, p := range *v.(*[]prekeyVector) {
		owner, err := UnmarshalIdentity(p.Owner)
		if err != nil {
			t.Fatal(err)
		}
		pk, err := ParsePrekey(p.Prekey)
		if err != nil {
			t.Fatal(err)
		}
		if err := pk.Verify(owner.Card()); err != nil || pk.Day != p.Day {
			t.Fatalf("prekey day %d: %v", p.Day, err)
		}
		priv, err := ecdh.X25519().NewPrivateKey(p.Priv)
		if err != nil || !bytes.Equal(priv.PublicKey().Bytes(), pk.Pub[:]) {
			t.Fatalf("prekey day %d: private key does not match", p.Day)
		}
	}
}
