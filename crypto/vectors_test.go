package crypto

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.json vectors from the fixed seeds")

type cardVector struct {
	Name        string   `json:"name"`
	Rand        hexBytes `json:"rand"` // the 64 bytes NewIdentityAt reads
	Created     int64    `json:"created"`
	Identity    hexBytes `json:"identity"`
	Card        hexBytes `json:"card"`
	Fingerprint string   `json:"fingerprint"`
}

type pairVector struct {
	Name        string      `json:"name"`
	A           hexBytes    `json:"a_identity"`
	B           hexBytes    `json:"b_identity"`
	LinkSecret  hexBytes    `json:"link_secret,omitempty"`
	Keys        hexBytes    `json:"a_pair_keys"` // A's PairKeys, before any Advance
	Days        []dayKey    `json:"proximity_days"`
	Epochs      []epochKey  `json:"epoch_keys"`
	Mailboxes   []mailboxKV `json:"mailboxes"`
	HintEpoch   uint64      `json:"hint_epoch"`
	Hint        hexBytes    `json:"hint"`
	Transcript  hexBytes    `json:"proof_transcript"`
	ProofA      hexBytes    `json:"proof_by_a"`
	SafetyNumbr string      `json:"safety_number"`
	Record      hexBytes    `json:"record"`
	RecordEpoch uint64      `json:"record_epoch"`
	SealedRec   hexBytes    `json:"sealed_record_by_a"`
	// The shared form: A's seed, A's share of it for B, and the record
	// sealed under the seed (epoch RecordEpoch).
	Seed         hexBytes `json:"shared_record_seed"`
	Share        hexBytes `json:"shared_record_share_for_b"`
	SharedSealed hexBytes `json:"shared_record_by_a"`
}

type dayKey struct {
	Day uint32   `json:"day"`
	Key hexBytes `json:"key"`
}

type epochKey struct {
	Epoch        uint64   `json:"epoch"`
	EpochSeconds uint32   `json:"epoch_seconds"`
	Key          hexBytes `json:"key"`
}

type mailboxKV struct {
	Day       uint32   `json:"day"`
	AToB      bool     `json:"a_to_b"`
	Pub       hexBytes `json:"pub"`
	MailboxID hexBytes `json:"mailbox_id"`
}

type tokenVector struct {
	EpochKey hexBytes `json:"epoch_key"`
	Level    int      `json:"level"`
	Cell     uint64   `json:"cell"`
	Token    hexBytes `json:"token"`
}

type envelopeVector struct {
	Name          string   `json:"name"`
	Sender        hexBytes `json:"sender_identity"`
	RecipientPriv hexBytes `json:"recipient_priv"`
	To            hexBytes `json:"to"`
	Rand          hexBytes `json:"rand"` // the 56 bytes Seal reads
	Type          uint8    `json:"type"`
	ItemID        hexBytes `json:"item_id"`
	Created       int64    `json:"created"`
	Payload       hexBytes `json:"payload"`
	Sealed        hexBytes `json:"sealed"`
}

type streamVector struct {
	Name    string     `json:"name"`
	Key     hexBytes   `json:"stream_key"`
	Content hexBytes   `json:"content"`
	Chunks  []hexBytes `json:"chunks"`
}

type prekeyVector struct {
	Owner  hexBytes `json:"owner_identity"`
	Rand   hexBytes `json:"rand"`
	Day    uint32   `json:"day"`
	Priv   hexBytes `json:"priv"`
	Prekey hexBytes `json:"prekey"`
}

func readRand(label string, n int) []byte {
	b := make([]byte, n)
	detRand(label).Read(b)
	return b
}

func genCards(t testing.TB) []cardVector {
	var vs []cardVector
	for i, name := range []string{"alice", "bob", "carol"} {
		r := readRand("card/"+name, 64)
		created := int64(1_780_000_000 + i*86400)
		id, err := NewIdentityAt(bytes.NewReader(r), created)
		if err != nil {
			t.Fatal(err)
		}
		c := id.Card()
		vs = append(vs, cardVector{name, r, created, mustMarshal(t, id), mustMarshal(t, c), c.Fingerprint()})
	}
	return vs
}

func genPairs(t testing.TB) []pairVector {
	var vs []pairVector
	for _, tc := range []struct {
		name   string
		secret []byte
	}{{"static", nil}, {"with-link-secret", readRand("link", 32)}} {
		a, b := testIdentity(t, "pair/a/"+tc.name), testIdentity(t, "pair/b/"+tc.name)
		pk, err := DerivePairWithSecret(a, b.Card(), tc.secret)
		if err != nil {
			t.Fatal(err)
		}
		v := pairVector{Name: tc.name, A: mustMarshal(t, a), B: mustMarshal(t, b), LinkSecret: tc.secret, Keys: mustMarshal(t, pk)}
		for _, d := range []uint32{ProximityBaseDay, ProximityBaseDay + 1, ProximityBaseDay + 2, 20600} {
			k, err := pk.DayKey(d)
			if err != nil {
				t.Fatal(err)
			}
			v.Days = append(v.Days, dayKey{d, k[:]})
		}
		for _, e := range []epochKey{{Epoch: 20600 * 144, EpochSeconds: 600}, {Epoch: 20600*144 + 143, EpochSeconds: 600}, {Epoch: 20600 * 1440, EpochSeconds: 60}} {
			k, err := pk.EpochTokenKey(e.Epoch, e.EpochSeconds)
			if err != nil {
				t.Fatal(err)
			}
			e.Key = k[:]
			v.Epochs = append(v.Epochs, e)
		}
		for _, d := range []uint32{20600, 20601} {
			for _, to := range []bool{true, false} {
				k := pk.MailboxKey(d, to)
				id := pk.MailboxID(d, to)
				v.Mailboxes = append(v.Mailboxes, mailboxKV{d, to, []byte(k[32:]), id[:]})
			}
		}
		v.HintEpoch = 20600 * 144
		h := pk.Hint(v.HintEpoch)
		v.Hint = h[:]
		v.Transcript = []byte("peerA|peerB|nonceA|nonceB")
		p := pk.Proof(v.HintEpoch, v.Transcript)
		v.ProofA = p[:]
		v.SafetyNumbr = SafetyNumber(a.Card(), b.Card())
		v.Record, v.RecordEpoch = []byte("/ip4/192.0.2.7/udp/4001/quic-v1"), 20600*144
		if v.SealedRec, err = pk.SealRecord(detRand("record/"+tc.name), v.RecordEpoch, v.Record); err != nil {
			t.Fatal(err)
		}
		seed, err := NewRecordSeed(detRand("seed/" + tc.name))
		if err != nil {
			t.Fatal(err)
		}
		share := pk.RecordShare(v.RecordEpoch, seed)
		v.Seed, v.Share = seed[:], share[:]
		if v.SharedSealed, err = SealSharedRecord(detRand("shared/"+tc.name), seed, v.RecordEpoch, v.Record); err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func genTokens(t testing.TB) []tokenVector {
	var vs []tokenVector
	for i, c := range []struct {
		level int
		cell  uint64
	}{{16, 0x89c25a3000000000}, {16, 0x89c25a5000000000}, {16, 1}, {10, 0x89c2500000000000}, {20, ^uint64(0)}} {
		var k EpochKey
		copy(k[:], readRand("token/"+string(rune('a'+i)), 32))
		tok := Token(k, c.level, c.cell)
		vs = append(vs, tokenVector{k[:], c.level, c.cell, tok[:]})
	}
	return vs
}

func genEnvelopes(t testing.TB) []envelopeVector {
	var vs []envelopeVector
	sender, recipient := testIdentity(t, "env/sender"), testIdentity(t, "env/recipient")
	prePriv, pre, err := NewPrekey(detRand("env/prekey"), recipient, 20600)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		priv   *[32]byte
		to     [32]byte
		typ    ContentType
		length int
	}{
		{"empty-message", recipient.BoxPrivate(), recipient.BoxPub(), TypeMessage, 0},
		{"like", recipient.BoxPrivate(), recipient.BoxPub(), TypeLike, 16},
		{"fills-256", recipient.BoxPrivate(), recipient.BoxPub(), TypeMessage, MaxPayloadIn(256)},
		{"spills-to-1k", recipient.BoxPrivate(), recipient.BoxPub(), TypeOffer, MaxPayloadIn(256) + 1},
		{"photo-to-prekey", prePriv, pre.Pub, TypePhoto, 3000},
	} {
		r := readRand("env/rand/"+tc.name, 56)
		payload := readRand("env/payload/"+tc.name, tc.length)
		h := Header{Type: tc.typ, Created: 1_780_000_000}
		copy(h.ItemID[:], readRand("env/item/"+tc.name, 16))
		s, err := NewSealer(sender, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := s.Seal(bytes.NewReader(r), h, payload)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, envelopeVector{tc.name, mustMarshal(t, sender), tc.priv[:], tc.to[:], r, uint8(tc.typ), h.ItemID[:], h.Created, payload, sealed})
	}
	return vs
}

// genStreams makes the stream vectors of one key version from the same
// seeds (version 1 keys differ from version 2 ones only in the version
// byte, so the two files share keys and contents and differ in chunks).
func genStreams(t testing.TB, version uint8) []streamVector {
	var vs []streamVector
	for _, tc := range []struct {
		name string
		size int
	}{{"empty", 0}, {"one-byte", 1}, {"exact-chunk", 1024}, {"two-and-a-half", 2560}} {
		k, err := NewStreamKey(detRand("stream/key/"+tc.name), MinChunkSize)
		if err != nil {
			t.Fatal(err)
		}
		k.Version = version
		content := readRand("stream/content/"+tc.name, tc.size)
		var buf bytes.Buffer
		if _, err := k.SealStream(&buf, bytes.NewReader(content)); err != nil {
			t.Fatal(err)
		}
		v := streamVector{Name: tc.name, Key: mustMarshal(t, k), Content: content}
		sealed := buf.Bytes()
		for len(sealed) > 0 {
			n := min(len(sealed), int(k.ChunkSize)+ChunkOverhead)
			v.Chunks = append(v.Chunks, sealed[:n])
			sealed = sealed[n:]
		}
		vs = append(vs, v)
	}
	return vs
}

func genPrekeys(t testing.TB) []prekeyVector {
	owner := testIdentity(t, "prekey/owner")
	var vs []prekeyVector
	for _, day := range []uint32{20600, 20601} {
		r := readRand("prekey/"+string(rune('0'+day%10)), 32)
		priv, p, err := NewPrekey(bytes.NewReader(r), owner, day)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, prekeyVector{mustMarshal(t, owner), r, day, priv[:], mustMarshal(t, p)})
	}
	return vs
}

// vectorKinds lists every vector file, how to generate it from the fixed
// seeds, and how to check a loaded file with the decoding side of the API.
var vectorKinds = []struct {
	file  string
	gen   func(testing.TB) any
	empty func() any
	check func(*testing.T, any)
}{
	{"cards.json", func(t testing.TB) any { return genCards(t) }, func() any { return &[]cardVector{} }, checkCards},
	{"pairs.json", func(t testing.TB) any { return genPairs(t) }, func() any { return &[]pairVector{} }, checkPairs},
	{"tokens.json", func(t testing.TB) any { return genTokens(t) }, func() any { return &[]tokenVector{} }, checkTokens},
	{"envelopes.json", func(t testing.TB) any { return genEnvelopes(t) }, func() any { return &[]envelopeVector{} }, checkEnvelopes},
	{"streams.json", func(t testing.TB) any { return genStreams(t, StreamV2) }, func() any { return &[]streamVector{} }, checkStreams},
	{"streams-v1.json", func(t testing.TB) any { return genStreams(t, StreamV1) }, func() any { return &[]streamVector{} }, checkStreams},
	{"streams-v3.json", func(t testing.TB) any { return genStreams(t, StreamV3) }, func() any { return &[]streamVector{} }, checkStreams},
	{"prekeys.json", func(t testing.TB) any { return genPrekeys(t) }, func() any { return &[]prekeyVector{} }, checkPrekeys},
}

// TestVectors regenerates every vector from its seed and requires it to
// equal testdata byte for byte, then checks each loaded vector with the
// parsing/opening side. With -update it rewrites testdata instead.
func TestVectors(t *testing.T) {
	for _, k := range vectorKinds {
		t.Run(k.file, func(t *testing.T) {
			path := filepath.Join("testdata", k.file)
			got := k.gen(t)
			if *update {
				b, err := json.MarshalIndent(got, "", "  ")
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want := k.empty()
			loadJSON(t, path, want)
			gotPtr := reflect.New(reflect.TypeOf(got))
			gotPtr.Elem().Set(reflect.ValueOf(got))
			if !reflect.DeepEqual(normalize(t, gotPtr.Interface()), normalize(t, want)) {
				t.Fatalf("%s: generated vectors differ from the file (run go test -run TestVectors -update ./crypto/ only for an intended change)", k.file)
			}
			k.check(t, want)
		})
	}
}

// normalize round-trips through JSON so nil and empty byte slices compare equal.
func normalize(t *testing.T, v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func loadJSON(t testing.TB, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read vectors: %v (generate with -update)", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}
