package node

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/contacts"
	"github.com/imigee/imigee/relay"
)

// lockedBuf is a log sink the test scans.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuf) Bytes() []byte { l.mu.Lock(); defer l.mu.Unlock(); return bytes.Clone(l.b.Bytes()) }

// contactRelay is a real relay on 127.0.0.1 that holds a contact key and
// keeps entries, logging at debug level into a buffer the test scans.
type contactRelay struct {
	*relay.Relay
	dir  string
	logs *lockedBuf
	key  *crypto.ContactKey
}

func startContactRelay(t *testing.T, clock *testClock) *contactRelay {
	return startContactRelayKey(t, clock, "k")
}

func startContactRelayKey(t *testing.T, clock *testClock, seed string) *contactRelay {
	t.Helper()
	key, err := crypto.NewContactKey(strings.NewReader(strings.Repeat(seed, 32)))
	if err != nil {
		t.Fatal(err)
	}
	logs := &lockedBuf{}
	cfg := relay.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	cfg.Store.SweepInterval = -1
	cfg.Limits.ResourceMemory = 256 << 20
	cfg.Now = clock.Now
	cfg.Contacts.Key = key
	cfg.Contacts.Difficulty = 6 // keep -race runs short; the default is 20
	r, err := relay.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		r.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return &contactRelay{Relay: r, dir: cfg.DataDir, logs: logs, key: key}
}

func withRegion(region string) nodeOpt {
	return func(c *Config) { c.Contacts.Region = region }
}

func syncBook(t *testing.T, n *testNode, book ...Contact) ContactSyncResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := n.SyncContacts(ctx, book)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// The marker numbers of this test, in every spelling the scan looks for.
const (
	aliceNum = "+33 6 12 34 56 78"
	bobNum   = "+49 151 12345678"
	carolNum = "+44 7700 900123"
)

// TestContactMatchLinksMutualPairs: Alice and Bob hold each other's
// numbers (one as a national number with a region); both get contact_match
// with the name from their own address book; both accept and are linked
// with the same safety number. Carol holds only Bob's number: nobody gets
// a proposal from her, and she gets nothing. Then P5/P6: no marker number
// or handle, in any spelling or any hash the code computes, is in the
// relay's files, logs or metrics (with a positive control).
func TestContactMatchLinksMutualPairs(t *testing.T) {
	clock := newTestClock()
	r := startContactRelay(t, clock)
	relays := relayAddrs(r.Relay)
	alice := newTestNode(t, clock, relays, withRegion("FR"))
	bob := newTestNode(t, clock, relays)
	carol := newTestNode(t, clock, relays)
	for _, c := range []struct {
		n *testNode
		h []string
	}{{alice, []string{"06 12 34 56 78", "x:@Alice"}}, {bob, []string{bobNum}}, {carol, []string{carolNum}}} {
		if err := c.n.SetHandles(c.h); err != nil {
			t.Fatal(err)
		}
	}
	if err := bob.SetProfile("Bobby", "hiking"); err != nil {
		t.Fatal(err)
	}
	res := syncBook(t, alice, Contact{Name: "Bob M.", Handles: []string{"+49 151 1234 5678"}}, Contact{Name: "Dave", Handles: []string{"+1 202 555 0143"}})
	if res.Pairs != 4 || res.Evaluated != 4 || res.NewMatches != 0 {
		t.Fatalf("alice's first sync: %+v", res)
	}
	if res := syncBook(t, carol, Contact{Name: "Bob", Handles: []string{bobNum}}); res.NewMatches != 0 {
		t.Fatalf("carol (one-sided) matched: %+v", res)
	}
	res = syncBook(t, bob, Contact{Name: "Alice from work", Handles: []string{aliceNum}})
	if res.NewMatches != 1 {
		t.Fatalf("bob's sync: %+v", res)
	}
	mb := bob.ev.wait(t, EventContactMatch, nil, 5*time.Second)
	if mb.Text != "Alice from work" || mb.Handle != "tel:+33612345678" || mb.FriendID != alice.ID() {
		t.Fatalf("bob's event %+v", mb)
	}
	// Alice's next sync evaluates nothing new and learns of Bob.
	res = syncBook(t, alice, Contact{Name: "Bob M.", Handles: []string{"+49 151 1234 5678"}}, Contact{Name: "Dave", Handles: []string{"+1 202 555 0143"}})
	if res.Evaluated != 0 || res.NewMatches != 1 {
		t.Fatalf("alice's second sync: %+v", res)
	}
	ma := alice.ev.wait(t, EventContactMatch, nil, 5*time.Second)
	if ma.Text != "Bob M." || ma.FriendID != bob.ID() {
		t.Fatalf("alice's event %+v", ma)
	}
	ms, _ := alice.ContactMatches()
	if len(ms) != 1 || ms[0].Profile != "Bobby" || ms[0].State != MatchProposed {
		t.Fatalf("alice's matches %+v", ms)
	}
	if n := carol.ev.count(EventContactMatch); n != 0 {
		t.Fatalf("carol got %d proposals", n)
	}
	// A pending proposal links nothing.
	if fs := alice.Friends(); len(fs) != 0 {
		t.Fatalf("friends before accepting: %v", fs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if st, err := alice.AcceptMatch(ctx, ma.ItemID); err != nil || st != MatchAccepted {
		t.Fatalf("alice accepts: %s %v", st, err)
	}
	if st, err := bob.AcceptMatch(ctx, mb.ItemID); err != nil || st != MatchLinked {
		t.Fatalf("bob accepts: %s %v", st, err)
	}
	if res := syncBook(t, alice, Contact{Name: "Bob M.", Handles: []string{bobNum}}, Contact{Name: "Dave", Handles: []string{"+1 202 555 0143"}}); res.Linked != 1 {
		t.Fatalf("alice's sync after both accepted: %+v", res)
	}
	sa, err := alice.SafetyNumber(bob.ID())
	if err != nil {
		t.Fatal(err)
	}
	sb, err := bob.SafetyNumber(alice.ID())
	if err != nil || sa != sb {
		t.Fatalf("safety numbers differ: %q %q %v", sa, sb, err)
	}
	// The link works: a message from Bob reaches Alice.
	if _, err := bob.SendMessage(alice.ID(), "hello from contacts"); err != nil {
		t.Fatal(err)
	}
	alice.ev.wait(t, EventMessage, nil, 20*time.Second)

	// P5/P6 scan of everything the relay holds or says.
	metrics, err := testutil.GatherAndCount(r.MetricsRegistry())
	if err != nil || metrics == 0 {
		t.Fatalf("metrics: %d %v", metrics, err)
	}
	var dump bytes.Buffer
	mfs, _ := r.MetricsRegistry().Gather()
	for _, mf := range mfs {
		dump.WriteString(mf.String())
	}
	haystacks := map[string][]byte{"logs": r.logs.Bytes(), "metrics": dump.Bytes()}
	_ = filepath.Walk(r.dir, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			b, _ := os.ReadFile(p)
			haystacks[p] = b
		}
		return nil
	})
	if len(haystacks[filepath.Join(r.dir, relay.ContactsFile)]) == 0 {
		t.Fatal("the scan did not read the contacts database")
	}
	needles := markerNeedles(t, []string{aliceNum, bobNum, carolNum}, []string{"x:@alice", "@alice"})
	for name, hay := range haystacks {
		for _, nd := range needles {
			if bytes.Contains(hay, nd.b) {
				t.Errorf("%s holds %s", name, nd.name)
			}
		}
	}
	// Positive control: the same scan finds the markers where they are.
	book := []byte("BEGIN:VCARD\nTEL:" + bobNum + "\nEND:VCARD\n" + hex.EncodeToString(sha256Sum("tel:+4915112345678")))
	found := 0
	for _, nd := range needles {
		if bytes.Contains(book, nd.b) {
			found++
		}
	}
	if found < 2 {
		t.Fatalf("positive control: the scan found %d needles in a file holding a marker", found)
	}
}

func sha256Sum(s string) []byte { h := sha256.Sum256([]byte(s)); return h[:] }

type needle struct {
	name string
	b    []byte
}

// markerNeedles spells each number as typed, E.164, digits only and
// national digits, and adds every hash the code computes of handles and
// pair inputs (SHA-256 of the handle and of the pair input, raw and hex).
func markerNeedles(t *testing.T, nums, handles []string) []needle {
	var out []needle
	add := func(name string, b []byte) {
		out = append(out, needle{name, b}, needle{name + " (hex)", []byte(hex.EncodeToString(b))})
	}
	var e164s []string
	for _, n := range nums {
		digits := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, n)
		e164 := "+" + digits
		e164s = append(e164s, "tel:"+e164)
		out = append(out, needle{"number as typed", []byte(n)}, needle{"E.164", []byte(e164)}, needle{"digits", []byte(digits)}, needle{"national digits", []byte(digits[2:])})
		add("SHA-256 of the handle", sha256Sum("tel:"+e164))
	}
	for _, h := range handles {
		out = append(out, needle{"handle", []byte(h)})
		add("SHA-256 of a handle", sha256Sum(h))
	}
	all := append(e164s, handles...)
	for i := range all {
		for j := range all {
			if x0, err := crypto.ContactPairInput(all[i], all[j]); err == nil {
				add("pair input", x0)
				add("SHA-256 of a pair input", sha256Sum(string(x0)))
			}
		}
	}
	return out
}

// TestContactEntriesWithdrawnAndExpire: removing a contact withdraws its
// entry; Forget withdraws the rest; an entry left alone is gone at 30
// days (injected clock, the relay's sweep).
func TestContactEntriesWithdrawnAndExpire(t *testing.T) {
	clock := newTestClock()
	r := startContactRelay(t, clock)
	relays := relayAddrs(r.Relay)
	a := newTestNode(t, clock, relays)
	if err := a.SetHandles([]string{aliceNum}); err != nil {
		t.Fatal(err)
	}
	entries := func() float64 {
		mfs, _ := r.MetricsRegistry().Gather()
		for _, mf := range mfs {
			if mf.GetName() == "imigee_relay_contacts_entries" {
				return mf.GetMetric()[0].GetGauge().GetValue()
			}
		}
		return -1
	}
	syncBook(t, a, Contact{Name: "B", Handles: []string{bobNum}}, Contact{Name: "C", Handles: []string{carolNum}})
	if e := entries(); e != 2 {
		t.Fatalf("%v entries after sync", e)
	}
	res := syncBook(t, a, Contact{Name: "B", Handles: []string{bobNum}})
	if res.Withdrawn != 1 || entries() != 1 {
		t.Fatalf("removing a contact: %+v, %v entries", res, entries())
	}
	// Another user's lone entry expires at 30 days.
	b := newTestNode(t, clock, relays)
	if err := b.SetHandles([]string{carolNum}); err != nil {
		t.Fatal(err)
	}
	syncBook(t, b, Contact{Name: "D", Handles: []string{"+1 202 555 0143"}})
	if entries() != 2 {
		t.Fatalf("%v entries", entries())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Forget(ctx); err != nil {
		t.Fatal(err)
	}
	if e := entries(); e != 1 {
		t.Fatalf("after forget: %v entries", e)
	}
	clock.Add(30*24*time.Hour + time.Minute)
	r.SweepContacts()
	if e := entries(); e != 0 {
		t.Fatalf("after 30 days: %v entries", e)
	}
}

// TestContactWithoutHandlesOrPermission: no handles = nothing sent; an
// empty book (permission revoked) withdraws everything, friends stay (P9).
func TestContactWithoutHandlesOrPermission(t *testing.T) {
	clock := newTestClock()
	r := startContactRelay(t, clock)
	a := newTestNode(t, clock, relayAddrs(r.Relay))
	if _, err := a.SyncContacts(context.Background(), []Contact{{Name: "B", Handles: []string{bobNum}}}); err != ErrNoHandles {
		t.Fatalf("sync without handles: %v", err)
	}
	if err := a.SetHandles([]string{"not a number"}); err == nil {
		t.Fatal("a bad handle was accepted")
	}
	if err := a.SetHandles([]string{aliceNum}); err != nil {
		t.Fatal(err)
	}
	syncBook(t, a, Contact{Name: "B", Handles: []string{bobNum}})
	if res := syncBook(t, a); res.Withdrawn != 1 {
		t.Fatalf("empty book: %+v", res)
	}
}

// TestContactChainTwoRelays: the chain runs over two relays with published
// keys and the entries live at the second. Playing relay 1's operator,
// who holds its key, the stored entry file and a correct guess of both
// numbers, the guess cannot be confirmed; with both keys it can (the
// positive control). A relay answering under another key than the
// published one is refused.
func TestContactChainTwoRelays(t *testing.T) {
	clock := newTestClock()
	r1 := startContactRelayKey(t, clock, "1")
	r2 := startContactRelayKey(t, clock, "2")
	chain := []ContactStage{{Relay: relayAddrs(r1.Relay)[0], PublicKey: r1.key.PublicKey()}, {Relay: relayAddrs(r2.Relay)[0], PublicKey: r2.key.PublicKey()}}
	opt := func(c *Config) {
		c.Contacts.Chain = chain
		c.Contacts.Directory = relayAddrs(r2.Relay)
	}
	a := newTestNode(t, clock, relayAddrs(r1.Relay), opt)
	b := newTestNode(t, clock, relayAddrs(r2.Relay), opt)
	_ = a.SetHandles([]string{aliceNum})
	_ = b.SetHandles([]string{bobNum})
	syncBook(t, a, Contact{Name: "B", Handles: []string{bobNum}})
	if res := syncBook(t, b, Contact{Name: "A", Handles: []string{aliceNum}}); res.NewMatches != 1 {
		t.Fatalf("two-relay chain: %+v", res)
	}
	db, err := os.ReadFile(filepath.Join(r2.dir, relay.ContactsFile))
	if err != nil {
		t.Fatal(err)
	}
	guess, _ := crypto.ContactPairInput("tel:+33612345678", "tel:+4915112345678")
	y1, _ := r1.key.FullEvaluate(guess)
	for _, y := range [][]byte{y1} {
		id, _, _ := crypto.ContactEntryKeys(y)
		if bytes.Contains(db, id[:]) {
			t.Fatal("relay 1's key alone confirmed the guessed pair")
		}
	}
	y2, _ := r2.key.FullEvaluate(guess)
	if id, _, _ := crypto.ContactEntryKeys(y2); bytes.Contains(db, id[:]) {
		t.Fatal("relay 2's key alone confirmed the guessed pair")
	}
	y12, _ := r2.key.FullEvaluate(y1)
	if id, _, _ := crypto.ContactEntryKeys(y12); !bytes.Contains(db, id[:]) {
		t.Fatal("positive control: both keys do not find the entry")
	}
	// A stage announcing another key than the published one is refused.
	bad := []ContactStage{{Relay: chain[0].Relay, PublicKey: r2.key.PublicKey()}}
	c := newTestNode(t, clock, relayAddrs(r1.Relay), func(cfg *Config) { cfg.Contacts.Chain = bad })
	_ = c.SetHandles([]string{carolNum})
	if _, err := c.SyncContacts(context.Background(), []Contact{{Name: "B", Handles: []string{bobNum}}}); !errors.Is(err, contacts.ErrWrongKey) {
		t.Fatalf("wrong published key: %v", err)
	}
}

// BenchmarkContactSync1000 is a phone's first sync of 1,000 contacts (one
// handle each) against a real relay on loopback that holds the whole chain
// (one stage) at the default proof-of-work difficulty: wall time, bytes up
// and down. The relay and the node share this machine's cores.
func BenchmarkContactSync1000(b *testing.B) {
	clock := newTestClock()
	key, _ := crypto.NewContactKey(strings.NewReader(strings.Repeat("b", 32)))
	cfg := relay.DefaultConfig()
	cfg.DataDir = b.TempDir()
	cfg.ListenAddrs = []string{"/ip4/127.0.0.1/udp/0/quic-v1"}
	cfg.Logger = quietLogger()
	cfg.Now = clock.Now
	cfg.Contacts.Key = key
	cfg.Contacts.EvalsPerConnDay = 1 << 30
	cfg.Contacts.EvalsPerPrefixDay = 1 << 30
	cfg.Contacts.PostsPerPrefixDay = 1 << 30
	r, err := relay.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	book := make([]Contact, 1000)
	for i := range book {
		book[i] = Contact{Name: "c", Handles: []string{"+3361" + strings.Repeat("0", 7-len(itoa(i))) + itoa(i)}}
	}
	var up, down int64
	iter := 0
	for b.Loop() {
		b.StopTimer()
		n := newTestNode(b, clock, relayAddrs(r))
		iter++ // a new own number each time, so no entry of an earlier run matches
		_ = n.SetHandles([]string{"+4930" + strconv.Itoa(1000000+iter)})
		b.StartTimer()
		res, err := n.SyncContacts(context.Background(), book)
		if err != nil || res.Evaluated != 1000 {
			b.Fatalf("%+v %v", res, err)
		}
		up, down = res.BytesUp, res.BytesDown
	}
	b.ReportMetric(float64(up)/1024, "KiB-up")
	b.ReportMetric(float64(down)/1024, "KiB-down")
}

func itoa(i int) string { return strconv.Itoa(i) }
