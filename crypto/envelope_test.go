package crypto

import (
	"bytes"
	"errors"
	"sync"
	"testing"
)

func testHeader(t ContentType) Header {
	return Header{Type: t, ItemID: [16]byte{1, 2, 3}, Created: 1_780_000_123}
}

func TestEnvelopeRoundTripAndBuckets(t *testing.T) {
	s, r := testIdentity(t, "s"), testIdentity(t, "r")
	sealer, err := NewSealer(s, r.BoxPub())
	if err != nil {
		t.Fatal(err)
	}
	rec := r.Recipient()
	for _, n := range []int{0, 1, MaxPayloadIn(256), MaxPayloadIn(256) + 1, 4000, 70_000, MaxPayloadIn(1 << 20), 1<<20 + 5} {
		p := make([]byte, n)
		detRand("payload").Read(p)
		env, err := sealer.Seal(detRand("env"), testHeader(TypePhoto), p)
		if err != nil {
			t.Fatal(err)
		}
		if len(env) != PaddedSize(n) {
			t.Fatalf("%d-byte payload sealed to %d, want %d", n, len(env), PaddedSize(n))
		}
		o, err := rec.Open(env)
		if err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		if o.SenderBox != s.BoxPub() || o.Header != testHeader(TypePhoto) || !bytes.Equal(o.Payload, p) {
			t.Fatalf("%d bytes: opened wrong content", n)
		}
	}
	want := map[int]int{0: 256, MaxPayloadIn(256) + 1: 1 << 10, 5000: 16 << 10, 300 << 10: 1 << 20, 1 << 20: 2 << 20, 5<<20 + 1: 6 << 20}
	for n, b := range want {
		if PaddedSize(n) != b {
			t.Errorf("PaddedSize(%d) = %d, want %d", n, PaddedSize(n), b)
		}
	}
}

func TestEnvelopeTamper(t *testing.T) {
	s, r := testIdentity(t, "s"), testIdentity(t, "r")
	sealer, _ := NewSealer(s, r.BoxPub())
	env, err := sealer.Seal(detRand("e"), testHeader(TypeMessage), []byte("meet at the fountain"))
	if err != nil {
		t.Fatal(err)
	}
	rec := r.Recipient()
	flipEach(env, func(i int, m []byte) {
		if _, err := rec.Open(m); err == nil {
			t.Errorf("flipped byte %d: opens", i)
		} else if !errors.Is(err, ErrOpen) && !errors.Is(err, ErrMalformed) {
			t.Errorf("flipped byte %d: %v", i, err)
		}
	})
	for _, m := range [][]byte{env[:len(env)-1], append(append([]byte(nil), env...), 0), env[:EnvelopeOverhead], nil} {
		if _, err := rec.Open(m); err == nil {
			t.Errorf("length %d opens", len(m))
		}
	}
	if _, err := rec.Open(env); err != nil {
		t.Fatal("original stopped opening")
	}
}

func TestEnvelopeWrongRecipient(t *testing.T) {
	s, r, x := testIdentity(t, "s"), testIdentity(t, "r"), testIdentity(t, "x")
	env, err := Seal(detRand("e"), s, r.BoxPub(), TypeLike, [16]byte{9}, []byte("♥"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(x.BoxPrivate(), env); !errors.Is(err, ErrOpen) {
		t.Fatalf("wrong recipient: %v", err)
	}
	if _, err := Open(s.BoxPrivate(), env); !errors.Is(err, ErrOpen) {
		t.Fatalf("sender opened its own envelope: %v", err)
	}
	if o, err := Open(r.BoxPrivate(), env); err != nil || o.Type != TypeLike {
		t.Fatalf("right recipient: %v", err)
	}
}

// A sender cannot claim another friend's box key: the payload key needs the
// static secret of the claimed sender.
func TestEnvelopeWrongSenderKey(t *testing.T) {
	mallory, alice, r := testIdentity(t, "mallory"), testIdentity(t, "alice"), testIdentity(t, "r")
	forger, _ := NewSealer(mallory, r.BoxPub())
	forger.senderPub = alice.BoxPub()
	env, err := forger.Seal(detRand("f"), testHeader(TypeMessage), []byte("it's alice, really"))
	if err != nil {
		t.Fatal(err)
	}
	rec := r.Recipient()
	if _, err := rec.Open(env); !errors.Is(err, ErrOpen) {
		t.Fatalf("forged sender: %v", err)
	}
	// Nor is a failed forgery cached as alice's secret.
	good, _ := Seal(detRand("g"), alice, r.BoxPub(), TypeMessage, [16]byte{}, []byte("hi"))
	if o, err := rec.Open(good); err != nil || o.SenderBox != alice.BoxPub() {
		t.Fatalf("alice after a forgery: %v", err)
	}
}

func TestEnvelopeHidesSender(t *testing.T) {
	s, r := testIdentity(t, "s"), testIdentity(t, "r")
	sealer, _ := NewSealer(s, r.BoxPub())
	p := []byte("same payload")
	e1, _ := sealer.Seal(detRand("1"), testHeader(TypeMessage), p)
	e2, _ := sealer.Seal(detRand("2"), testHeader(TypeMessage), p)
	pub, spub := s.BoxPub(), s.SignPub()
	for _, e := range [][]byte{e1, e2} {
		if bytes.Contains(e, pub[:8]) || bytes.Contains(e, spub[:8]) || bytes.Contains(e, p) {
			t.Fatal("envelope shows sender key or payload")
		}
	}
	if bytes.Equal(e1[1:33], e2[1:33]) || bytes.Equal(e1[33:57], e2[33:57]) {
		t.Fatal("ephemeral key or nonce repeated")
	}
}

func TestEnvelopeToPrekey(t *testing.T) {
	s, r := testIdentity(t, "s"), testIdentity(t, "r")
	priv, pre, err := NewPrekey(detRand("pre"), r, 20600)
	if err != nil {
		t.Fatal(err)
	}
	if err := pre.Verify(r.Card()); err != nil {
		t.Fatal(err)
	}
	env, err := Seal(detRand("e"), s, pre.Pub, TypePhoto, [16]byte{}, []byte("jpeg"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(r.BoxPrivate(), env); !errors.Is(err, ErrOpen) {
		t.Fatal("long-term key opens an item sealed to a prekey")
	}
	if o, err := Open(priv, env); err != nil || o.SenderBox != s.BoxPub() {
		t.Fatalf("prekey open: %v", err)
	}
}

func TestEnvelopeBadInputs(t *testing.T) {
	s, r := testIdentity(t, "s"), testIdentity(t, "r")
	if _, err := Seal(detRand("e"), s, r.BoxPub(), 0, [16]byte{}, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("type 0: %v", err)
	}
	if _, err := NewSealer(s, [32]byte{}); err == nil {
		t.Fatal("sealer to the zero key")
	}
	if _, err := Seal(bytes.NewReader(nil), s, r.BoxPub(), TypeLike, [16]byte{}, nil); err == nil {
		t.Fatal("seal without randomness")
	}
}

func TestRecipientConcurrent(t *testing.T) {
	r := testIdentity(t, "r")
	rec := r.Recipient()
	var envs [][]byte
	for i := range 4 {
		s := testIdentity(t, string(rune('a'+i)))
		e, _ := Seal(detRand("c"), s, r.BoxPub(), TypeMessage, [16]byte{}, []byte("x"))
		envs = append(envs, e)
	}
	var wg sync.WaitGroup
	for _, e := range envs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 3 {
				if _, err := rec.Open(e); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
}

// TestEnvelopeSealPadded: an envelope padded beyond its own bucket (so all
// small mailbox blobs share one size class) opens, keeps its length, and
// rejects sizes that are not padded sizes; a truncation to the payload's
// own bucket does not open.
func TestEnvelopeSealPadded(t *testing.T) {
	s, r := testIdentity(t, "s"), testIdentity(t, "r")
	sealer, _ := NewSealer(s, r.BoxPub())
	rec := r.Recipient()
	p := []byte("a like")
	for _, size := range []int{0, 256, 1 << 10, 256 << 10} {
		env, err := sealer.SealPadded(detRand("e"), testHeader(TypeLike), p, size)
		if err != nil {
			t.Fatal(err)
		}
		if want := max(size, PaddedSize(len(p))); len(env) != want {
			t.Fatalf("size %d: sealed to %d, want %d", size, len(env), want)
		}
		o, err := rec.Open(env)
		if err != nil || !bytes.Equal(o.Payload, p) {
			t.Fatalf("size %d: %v", size, err)
		}
		if size > 256 {
			if _, err := rec.Open(env[:256]); err == nil {
				t.Fatalf("size %d: truncated to 256 opens", size)
			}
		}
	}
	if _, err := sealer.SealPadded(detRand("e"), testHeader(TypeLike), p, 1000); !errors.Is(err, ErrMalformed) {
		t.Fatalf("size 1000: %v", err)
	}
}
