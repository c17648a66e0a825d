package contacts

import (
	"bytes"
	"crypto/sha256"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func testRand(label string) *rand.ChaCha8 {
	return rand.NewChaCha8(sha256.Sum256([]byte(label)))
}

func newService(t *testing.T, cfg Config) (*Service, *clock) {
	t.Helper()
	clk := &clock{t: time.Unix(1_780_000_000, 0)}
	cfg.Now = clk.now
	if cfg.Difficulty == 0 {
		cfg.Difficulty = 4
	}
	cfg.StoreEntries = true
	s, err := New(cfg, filepath.Join(t.TempDir(), "contacts.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

// client is one stream to the service over an in-memory pipe.
type client struct {
	t    *testing.T
	c    net.Conn
	id   uint64
	done chan struct{}
}

func dial(t *testing.T, s *Service, remote Remote) *client {
	a, b := net.Pipe()
	cl := &client{t: t, c: a, done: make(chan struct{})}
	go func() { defer close(cl.done); s.Serve(b, remote); b.Close() }()
	t.Cleanup(func() { a.Close(); <-cl.done })
	return cl
}

func (cl *client) call(req *pb.ContactsRequest) *pb.ContactsResponse {
	cl.t.Helper()
	cl.id++
	req.Id = cl.id
	if err := protocol.WriteMsg(cl.c, req); err != nil {
		cl.t.Fatal(err)
	}
	resp := &pb.ContactsResponse{}
	if err := protocol.ReadContactsResponse(cl.c, resp); err != nil {
		cl.t.Fatal(err)
	}
	return resp
}

func (cl *client) challenge() *pb.ContactsChallenge {
	r := cl.call(&pb.ContactsRequest{Body: &pb.ContactsRequest_Challenge{Challenge: &pb.ContactsChallengeRequest{}}})
	if r.Error != nil {
		cl.t.Fatalf("challenge: %v", r.Error)
	}
	return r.GetChallenge()
}

// evaluate runs one stage for inputs and returns the outputs.
func (cl *client) evaluate(inputs [][]byte) ([][]byte, *pb.Error) {
	ch := cl.challenge()
	b, blinded, err := crypto.BlindContacts(ch.PublicKey, inputs, testRand("blind"))
	if err != nil {
		cl.t.Fatal(err)
	}
	nonce, err := crypto.SolveContactPoW(ch.Nonce, blinded, int(ch.Difficulty), 0)
	if err != nil {
		cl.t.Fatal(err)
	}
	r := cl.call(&pb.ContactsRequest{Body: &pb.ContactsRequest_Evaluate{Evaluate: &pb.ContactEvaluate{Challenge: ch.Nonce, PowNonce: nonce, Blinded: blinded}}})
	if r.Error != nil {
		return nil, r.Error
	}
	out, err := b.Finalize(r.GetEvaluate().Evaluated, r.GetEvaluate().Proof)
	if err != nil {
		cl.t.Fatal(err)
	}
	return out, nil
}

type user struct {
	secret []byte
}

func (u user) entry(t *testing.T, out []byte, payload string) (*pb.ContactEntry, [32]byte) {
	id, key, err := crypto.ContactEntryKeys(out)
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := crypto.SealContactOffer(&key, []byte(payload), testRand(payload))
	if err != nil {
		t.Fatal(err)
	}
	ws := crypto.ContactWithdrawSecret(u.secret, id)
	wh := crypto.ContactWithdrawHash(ws)
	return &pb.ContactEntry{EntryId: id[:], SealedOffer: sealed, WithdrawHash: wh[:]}, ws
}

func post(cl *client, es ...*pb.ContactEntry) *pb.ContactsResponse {
	ch := cl.challenge()
	ids := make([][]byte, len(es))
	for i, e := range es {
		ids[i] = e.EntryId
	}
	n, err := crypto.SolveContactPoW(ch.Nonce, ids, int(ch.Difficulty), 0)
	if err != nil {
		cl.t.Fatal(err)
	}
	return cl.call(&pb.ContactsRequest{Body: &pb.ContactsRequest_Post{Post: &pb.ContactPost{Challenge: ch.Nonce, PowNonce: n, Entries: es}}})
}

func pair(t *testing.T, a, b string) []byte {
	x, err := crypto.ContactPairInput(a, b)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestMutualMatchOneSidedNothing: two users who hold each other's number
// meet at one entry and each gets the other's offer; a third who holds
// only one of the two numbers gets a different entry and nothing.
func TestMutualMatchOneSidedNothing(t *testing.T) {
	key, _ := crypto.NewContactKey(testRand("k"))
	s, _ := newService(t, Config{Key: key})
	const a, b, c = "tel:+33612345678", "tel:+4915112345678", "tel:+447700900123"
	alice, bob, carol := user{[]byte("alice")}, user{[]byte("bob")}, user{[]byte("carol")}
	ca, cb, cc := dial(t, s, Remote{"a", "p1"}), dial(t, s, Remote{"b", "p2"}), dial(t, s, Remote{"c", "p3"})

	oa, _ := ca.evaluate([][]byte{pair(t, a, b)})
	ea, _ := alice.entry(t, oa[0], "alice's offer")
	if r := post(ca, ea); len(r.GetPost().Matches) != 0 {
		t.Fatal("a lone entry matched")
	}
	// Carol holds Bob's number but is not Alice: her pair is (c, b).
	oc, _ := cc.evaluate([][]byte{pair(t, c, b)})
	ec, _ := carol.entry(t, oc[0], "carol's offer")
	if r := post(cc, ec); len(r.GetPost().Matches) != 0 {
		t.Fatal("one-sided knowledge matched")
	}
	ob, _ := cb.evaluate([][]byte{pair(t, b, a)})
	eb, _ := bob.entry(t, ob[0], "bob's offer")
	r := post(cb, eb)
	ms := r.GetPost().Matches
	if len(ms) != 1 {
		t.Fatalf("mutual pair: %d matches", len(ms))
	}
	_, k, _ := crypto.ContactEntryKeys(ob[0])
	got, err := crypto.OpenContactOffer(&k, ms[0].SealedOffer)
	if err != nil || string(got) != "alice's offer" {
		t.Fatalf("bob opened %q, %v", got, err)
	}
	// Alice re-posts (idempotent) and learns Bob's offer.
	r = post(ca, ea)
	if len(r.GetPost().Matches) != 1 || s.Stats().Entries != 3 {
		t.Fatalf("re-post: %d matches, %d entries", len(r.GetPost().Matches), s.Stats().Entries)
	}
}

// TestWithdrawAndExpiry: an entry goes on withdraw (only with its secret)
// and at the retention, with an injected clock; a re-post never extends it.
func TestWithdrawAndExpiry(t *testing.T) {
	key, _ := crypto.NewContactKey(testRand("k"))
	s, clk := newService(t, Config{Key: key})
	cl := dial(t, s, Remote{"a", "p"})
	u := user{[]byte("u")}
	out, _ := cl.evaluate([][]byte{pair(t, "a:1", "b:2"), pair(t, "a:1", "c:3")})
	e1, ws1 := u.entry(t, out[0], "1")
	e2, _ := u.entry(t, out[1], "2")
	first := post(cl, e1, e2).GetPost().ExpiresUnix
	clk.add(24 * time.Hour)
	again := post(cl, e1, e2).GetPost().ExpiresUnix
	if first[0] != again[0] || first[0] != clk.now().Add(-24*time.Hour).Add(MaxRetention).Unix() {
		t.Fatalf("expiry moved or wrong: %v then %v", first, again)
	}
	wrong := [32]byte{1}
	r := cl.call(&pb.ContactsRequest{Body: &pb.ContactsRequest_Withdraw{Withdraw: &pb.ContactWithdraw{Entries: []*pb.ContactWithdrawal{{EntryId: e1.EntryId, WithdrawSecret: wrong[:]}}}}})
	if r.GetWithdraw().GetRemoved() != 0 {
		t.Fatal("withdrawn without its secret")
	}
	r = cl.call(&pb.ContactsRequest{Body: &pb.ContactsRequest_Withdraw{Withdraw: &pb.ContactWithdraw{Entries: []*pb.ContactWithdrawal{{EntryId: e1.EntryId, WithdrawSecret: ws1[:]}}}}})
	if r.GetWithdraw().GetRemoved() != 1 || s.Stats().Entries != 1 {
		t.Fatalf("withdraw: removed %d, %d left", r.GetWithdraw().GetRemoved(), s.Stats().Entries)
	}
	clk.add(MaxRetention - 24*time.Hour - time.Second)
	if n, _ := s.Sweep(); n != 0 {
		t.Fatal("swept before 30 days")
	}
	clk.add(time.Second)
	if n, _ := s.Sweep(); n != 1 || s.Stats().Entries != 0 {
		t.Fatalf("sweep at 30 days: %d, %d left", n, s.Stats().Entries)
	}
}

// TestEvaluateLimits plays a client that lies: reused and unknown
// challenges, a wrong proof of work, over-budget batches.
func TestEvaluateLimits(t *testing.T) {
	key, _ := crypto.NewContactKey(testRand("k"))
	s, clk := newService(t, Config{Key: key, Difficulty: 8, EvalsPerConnDay: 3, EvalsPerPrefixDay: 4})
	cl := dial(t, s, Remote{"c1", "p"})
	in := [][]byte{pair(t, "a:1", "b:2"), pair(t, "a:1", "c:3")}

	ch := cl.challenge()
	_, blinded, _ := crypto.BlindContacts(ch.PublicKey, in, testRand("x"))
	nonce, _ := crypto.SolveContactPoW(ch.Nonce, blinded, 8, 0)
	bad := nonce + 1
	for crypto.VerifyContactPoW(ch.Nonce, blinded, 8, bad) {
		bad++
	}
	ev := func(c []byte, n uint64) *pb.ContactsResponse {
		return cl.call(&pb.ContactsRequest{Body: &pb.ContactsRequest_Evaluate{Evaluate: &pb.ContactEvaluate{Challenge: c, PowNonce: n, Blinded: blinded}}})
	}
	if r := ev(ch.Nonce, bad); r.GetError().GetCode() != pb.ErrorCode_UNAUTHORIZED {
		t.Fatalf("wrong proof of work: %v", r.Error)
	}
	if r := ev(ch.Nonce, nonce); r.GetError().GetCode() != pb.ErrorCode_UNAUTHORIZED {
		t.Fatalf("reused challenge: %v", r.Error)
	}
	if r := ev(bytes.Repeat([]byte{9}, 32), nonce); r.GetError().GetCode() != pb.ErrorCode_UNAUTHORIZED {
		t.Fatalf("unknown challenge: %v", r.Error)
	}
	// A bad proof is checked (one hash) before the day budgets, so it
	// charges nothing: a liar sharing the prefix cannot spend its
	// neighbours' evaluations. A good batch of 2 fits the 3; the next 2
	// do not.
	if _, e := cl.evaluate(in); e != nil {
		t.Fatalf("budget spent by a bad proof: %v", e)
	}
	if _, e := cl.evaluate(in); e.GetCode() != pb.ErrorCode_RATE_LIMITED {
		t.Fatalf("connection budget: %v", e)
	}
	// Another connection from the same prefix has 2 left of 4.
	c2 := dial(t, s, Remote{"c2", "p"})
	if _, e := c2.evaluate(in); e != nil {
		t.Fatalf("second connection: %v", e)
	}
	if _, e := c2.evaluate(in[:1]); e.GetCode() != pb.ErrorCode_RATE_LIMITED {
		t.Fatalf("prefix budget: %v", e)
	}
	clk.add(24 * time.Hour)
	if _, e := c2.evaluate(in[:1]); e != nil {
		t.Fatalf("budget after a day: %v", e)
	}
	// A stale challenge.
	ch = cl.challenge()
	clk.add(2 * time.Minute)
	_, bl, _ := crypto.BlindContacts(ch.PublicKey, in[:1], testRand("y"))
	n, _ := crypto.SolveContactPoW(ch.Nonce, bl, 8, 0)
	r := cl.call(&pb.ContactsRequest{Body: &pb.ContactsRequest_Evaluate{Evaluate: &pb.ContactEvaluate{Challenge: ch.Nonce, PowNonce: n, Blinded: bl}}})
	if r.GetError().GetCode() != pb.ErrorCode_STALE {
		t.Fatalf("stale challenge: %v", r.Error)
	}
	st := s.Stats()
	if st.BadProof != 1 || st.RateLimited != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// TestBadFrameClosesStream: an invalid request is answered with id 0 and
// its code, then the stream ends.
func TestBadFrameClosesStream(t *testing.T) {
	s, _ := newService(t, Config{})
	cl := dial(t, s, Remote{"c", "p"})
	if err := protocol.WriteMsg(cl.c, &pb.ContactsRequest{Id: 1}); err != nil {
		t.Fatal(err)
	}
	resp := &pb.ContactsResponse{}
	if err := protocol.ReadMsg(cl.c, resp, protocol.MaxContactsResponse); err != nil {
		t.Fatal(err)
	}
	if resp.Id != 0 || resp.GetError().GetCode() != pb.ErrorCode_UNSUPPORTED {
		t.Fatalf("got %v", resp)
	}
	<-cl.done
}

// FuzzServe feeds arbitrary bytes to a stream: no panic, no entry stored
// from anything that is not a valid post.
func FuzzServe(f *testing.F) {
	var buf bytes.Buffer
	_ = protocol.WriteMsg(&buf, &pb.ContactsRequest{Id: 1, Body: &pb.ContactsRequest_Challenge{Challenge: &pb.ContactsChallengeRequest{}}})
	f.Add(buf.Bytes())
	f.Add([]byte{0x05, 0x08, 0x01, 0x12, 0x00})
	key, _ := crypto.NewContactKey(testRand("k"))
	dir := f.TempDir()
	s, err := New(Config{Key: key, StoreEntries: true, NoSync: true, Difficulty: 1}, filepath.Join(dir, "c.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { s.Close() })
	f.Fuzz(func(t *testing.T, data []byte) {
		var out bytes.Buffer
		s.Serve(&memStream{r: bytes.NewReader(data), w: &out}, Remote{"f", "f"})
		for out.Len() > 0 {
			var m pb.ContactsResponse
			if err := protocol.ReadMsg(&out, &m, protocol.MaxContactsResponse); err != nil {
				t.Fatalf("relay wrote a bad frame: %v", err)
			}
		}
	})
}

// memStream is an in-memory Stream for fuzzing: reads from r, writes to w.
type memStream struct {
	r *bytes.Reader
	w *bytes.Buffer
}

func (m *memStream) Read(p []byte) (int, error)       { return m.r.Read(p) }
func (m *memStream) Write(p []byte) (int, error)      { return m.w.Write(p) }
func (m *memStream) SetReadDeadline(time.Time) error  { return nil }
func (m *memStream) SetWriteDeadline(time.Time) error { return nil }

// TestPostBudget: one address prefix cannot take the entry store; a refused
// post stores nothing.
func TestPostBudget(t *testing.T) {
	s, _ := newService(t, Config{PostsPerPrefixDay: 2})
	cl := dial(t, s, Remote{"c", "p"})
	u := user{[]byte("u")}
	mk := func(i byte) *pb.ContactEntry {
		out := bytes.Repeat([]byte{i}, crypto.ContactOutputSize)
		e, _ := u.entry(t, out, "x")
		return e
	}
	if r := post(cl, mk(1), mk(2)); r.Error != nil {
		t.Fatal(r.Error)
	}
	if r := post(cl, mk(1), mk(2)); r.Error != nil {
		t.Fatalf("a re-post of known entries is charged: %v", r.Error)
	}
	if r := post(cl, mk(1), mk(3)); r.GetError().GetCode() != pb.ErrorCode_RATE_LIMITED {
		t.Fatalf("third entry: %v", r.Error)
	}
	other := dial(t, s, Remote{"d", "q"})
	if r := post(other, mk(4)); r.Error != nil {
		t.Fatalf("another prefix refused: %v", r.Error)
	}
	if n := s.Stats().Entries; n != 3 {
		t.Fatalf("%d entries", n)
	}
}

// BenchmarkStoragePerEntry posts 20,000 entries (batches of 256) and
// reports the bbolt file bytes per entry and posts per second.
func BenchmarkStoragePerEntry(b *testing.B) {
	for b.Loop() {
		dir := b.TempDir()
		s, err := New(Config{StoreEntries: true, PostsPerPrefixDay: 1 << 30}, filepath.Join(dir, "c.db"))
		if err != nil {
			b.Fatal(err)
		}
		offer := bytes.Repeat([]byte{1}, protocol.SealedContactOfferSize)
		const n = 20_000
		for i := 0; i < n; i += 256 {
			var es [][3][]byte
			for j := i; j < min(i+256, n); j++ {
				id := sha256.Sum256([]byte{byte(j), byte(j >> 8), byte(j >> 16)})
				wh := sha256.Sum256(id[:])
				es = append(es, [3][]byte{id[:], offer, wh[:]})
			}
			if _, err := s.store.post(es, time.Now(), MaxRetention, 4, 1<<30, 512, func(int) bool { return true }); err != nil {
				b.Fatal(err)
			}
		}
		s.Close()
		fi, _ := os.Stat(filepath.Join(dir, "c.db"))
		b.ReportMetric(float64(fi.Size())/n, "bytes/entry")
	}
}
