package node

import (
	"bytes"
	"crypto/ed25519"
	"maps"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// relayView is what a relay that logs everything sees of the nodes: every
// byte each transport identity writes on each stream (parsed into the
// mailbox and rendezvous requests afterwards), with the injected time, and
// every connection the relay accepts. The user behind each identity is
// kept only as ground truth for the checks.
type relayView struct {
	clock *testClock

	mu      sync.Mutex
	streams map[string]*viewStream
	user    map[peer.ID]string // ground truth
	conns   map[peer.ID]int    // connections the relay accepted
}

type viewStream struct {
	local peer.ID
	proto string
	buf   bytes.Buffer
	first time.Time // injected time of the first write
	last  time.Time
}

func newRelayView(clock *testClock) *relayView {
	return &relayView{clock: clock, streams: map[string]*viewStream{}, user: map[peer.ID]string{}, conns: map[peer.ID]int{}}
}

func (v *relayView) hook(user string) func(peer.ID, string, string, []byte) {
	return func(local peer.ID, stream, proto string, p []byte) {
		now := v.clock.Now()
		v.mu.Lock()
		defer v.mu.Unlock()
		v.user[local] = user
		key := local.String() + "/" + stream // stream IDs are per host
		s := v.streams[key]
		if s == nil {
			s = &viewStream{local: local, proto: proto, first: now}
			v.streams[key] = s
		}
		s.last = now
		s.buf.Write(p)
	}
}

// peerActs is what one transport identity did, as the relay saw it.
type peerActs struct {
	subs, reads, puts map[crypto.MailboxID]bool
	putSizes          []int
	announces         []time.Time // injected time of each Announce
	lateEpochs        []uint64    // epochs of its late announcements
}

func (v *relayView) acts(t *testing.T) map[peer.ID]*peerActs {
	v.mu.Lock()
	defer v.mu.Unlock()
	out := map[peer.ID]*peerActs{}
	get := func(p peer.ID) *peerActs {
		a := out[p]
		if a == nil {
			a = &peerActs{subs: map[crypto.MailboxID]bool{}, reads: map[crypto.MailboxID]bool{}, puts: map[crypto.MailboxID]bool{}}
			out[p] = a
		}
		return a
	}
	ids := func(auth []*pb.MailboxAuth, into map[crypto.MailboxID]bool) {
		for _, a := range auth {
			into[crypto.MailboxID(a.MailboxId)] = true
		}
	}
	for _, s := range v.streams {
		a := get(s.local)
		r := protocol.NewReader(bytes.NewReader(s.buf.Bytes()), protocol.MaxMailboxRequest)
		switch s.proto {
		case protocol.MailboxProtocol:
			for {
				var m pb.MailboxRequest
				if r.ReadMsg(&m) != nil {
					break
				}
				switch b := m.Body.(type) {
				case *pb.MailboxRequest_Put:
					a.puts[crypto.MailboxID(b.Put.MailboxId)] = true
					a.putSizes = append(a.putSizes, len(b.Put.Blob))
				case *pb.MailboxRequest_Subscribe:
					ids(b.Subscribe.Auth, a.subs)
				case *pb.MailboxRequest_Fetch:
					ids(b.Fetch.Auth, a.reads)
				case *pb.MailboxRequest_Ack:
					ids(b.Ack.Auth, a.reads)
				case *pb.MailboxRequest_Forget:
					ids(b.Forget.Auth, a.reads)
				}
			}
		case protocol.RendezvousProtocol:
			for {
				var m pb.RendezvousRequest
				if r.ReadMsg(&m) != nil {
					break
				}
				if m.GetAnnounce() != nil {
					a.announces = append(a.announces, s.last)
				}
				if la := m.GetLateAnnounce(); la != nil {
					a.lateEpochs = append(a.lateEpochs, la.Epoch)
				}
			}
		}
	}
	return out
}

// mailboxTruth maps every inbound mailbox ID of the users for days
// [from, to] to its owner and day (ground truth; the relay does not have
// it).
type mailboxOwner struct {
	user string
	day  uint32
}

func mailboxTruth(users map[string]*testNode, from, to uint32) map[crypto.MailboxID]mailboxOwner {
	out := map[crypto.MailboxID]mailboxOwner{}
	for name, u := range users {
		for _, f := range u.friendList() {
			for d := from; d <= to; d++ {
				k := f.keys.MailboxKey(d, false)
				out[crypto.MailboxIDFromPub(k.Public().(ed25519.PublicKey))] = mailboxOwner{name, d}
			}
		}
	}
	return out
}

// TestRelayCannotLink (P12) runs three users, all friends of each other
// (three friendships), on one real relay over three simulated days, with
// hourly rotation, restarts, offline periods, meetings, direct and
// mailbox deliveries, and replays everything the relay saw. It checks the
// four links the relay must not make, beyond what docs/relay.md "What a
// relay learns" declares:
//
//  1. an announce identity spans at most one rotation period of
//     announcements and never touches a mailbox;
//  2. an identity that puts (items, receipts, rejections) never
//     subscribes, fetches, acks or announces, and puts into one mailbox;
//  3. identities joined by a shared mailbox ID (all the relay can join)
//     cover one user's inbound mailboxes of ONE day (declared), never two;
//  4. every stored blob is one of the size classes;
//  5. a late-announcing identity (issue 10) announces at most one hour of
//     past epochs and does nothing else (no live announcement, no mailbox).
//
// (Stolen disk: relay/store TestStolenDiskRevealsNothing.) On the code
// before P12 each check fails: puts went out on the subscribing and
// announcing identity (2), subscriptions covered yesterday, today and
// tomorrow from one identity living 24 h (1, 3), and messages, receipts
// and offers were 256 B and 1 KiB blobs, chunk blobs 4..256 KiB (4).
func TestRelayCannotLink(t *testing.T) {
	if testing.Short() {
		t.Skip("three simulated days")
	}
	clock := newTestClock()
	r := startRelay(t, clock)
	ra := relayAddrs(r)
	view := newRelayView(clock)
	r.Host().Network().Notify(&network.NotifyBundle{ConnectedF: func(_ network.Network, c network.Conn) {
		view.mu.Lock()
		view.conns[c.RemotePeer()]++
		view.mu.Unlock()
	}})
	users := map[string]*testNode{}
	open := func(name string) *testNode {
		key := make([]byte, 32)
		copy(key, name)
		tn := &testNode{ev: newEvents(), dir: t.TempDir(), key: key, pre: func(n *Node) {
			n.cfg.TransportRotation = time.Hour
			n.relayObs = view.hook(name)
		}}
		tn.Node = tn.open(t, clock, ra)
		users[name] = tn
		return tn
	}
	a, b, c := open("a"), open("b"), open("c")
	startDay := a.today()
	// Friend IDs are the same at every friend.
	bID, aID := link(t, a, b)
	cID, _ := link(t, a, c)
	link(t, b, c)
	for _, p := range []struct {
		n  *testNode
		id string
	}{{b, aID}, {c, aID}, {c, bID}, {b, cID}, {a, bID}, {a, cID}} {
		_ = p.n.SetAutoAccept(p.id, true)
	}
	// advance moves the injected clock in steps of at most 50 min (so
	// every announce identity rotates once its drawn lifetime passes),
	// waking everyone and letting the announce round and the jittered
	// re-attach run.
	advance := func(d time.Duration) {
		for d > 0 {
			step := min(d, 50*time.Minute)
			clock.Add(step)
			d -= step
			for _, u := range []*testNode{a, b, c} {
				if u.Node != nil {
					u.wake()
				}
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	for _, u := range []*testNode{a, b, c} {
		u.SetAppOpen(true)
		_ = u.SetLocation(lat0, lng0, 10)
	}
	msg := func(from *testNode, to, text string, want *testNode) {
		t.Helper()
		if _, err := from.SendMessage(to, text); err != nil {
			t.Fatal(err)
		}
		if want != nil {
			want.ev.waitRetrying(t, from.Node, clock, EventMessage, func(e Event) bool { return e.Text == text }, 60*time.Second)
		}
	}

	// Day 0: direct traffic, then b offline: a message and a photo wait
	// in b's mailbox; b comes back two hours later.
	msg(a, bID, "day0 direct", b)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	msg(a, bID, "day0 while b is away", nil)
	sharePhoto(t, c, []string{bID}, 300<<10)
	advance(2 * time.Hour)
	b.restart(t, clock, ra)
	b.ev.waitRetrying(t, b.Node, clock, EventMessage, func(e Event) bool { return e.Text == "day0 while b is away" }, 60*time.Second)
	b.ev.waitRetrying(t, b.Node, clock, EventItemReceived, nil, 60*time.Second)
	advance(3 * time.Hour)

	// Day 1: c offline the whole day; a and b write to it; a restarts.
	advance(time.Duration(24-(clock.Now().Unix()%86400)/3600) * time.Hour)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	msg(a, cID, "day1 for c", nil)
	msg(b, cID, "day1 for c from b", nil)
	advance(3 * time.Hour)
	a.restart(t, clock, ra)
	msg(b, aID, "day1 b to a", a)
	advance(3 * time.Hour)

	// Day 1, late: a lost reception for two hours while the others are
	// away; its history goes on, and its late announcements follow when the
	// network is back.
	if err := a.NetworkChanged(NetworkNone, false); err != nil {
		t.Fatal(err)
	}
	for range 6 {
		clock.Add(20 * time.Minute)
		_ = a.SetLocation(lat0, lng0, 10)
	}
	if err := a.NetworkChanged(NetworkWifi, false); err != nil {
		t.Fatal(err)
	}
	advance(time.Hour)
	waitFor(t, 60*time.Second, func() bool { a.wake(); return len(a.lateDue()) == 0 })

	// Day 2: c returns and catches up on day 1 (a one-off identity) and
	// day 2 (its new day identity); receipts flow back.
	advance(time.Duration(24-(clock.Now().Unix()%86400)/3600) * time.Hour)
	c.restart(t, clock, ra)
	c.ev.waitRetrying(t, c.Node, clock, EventMessage, func(e Event) bool { return e.Text == "day1 for c" }, 60*time.Second)
	c.ev.waitRetrying(t, c.Node, clock, EventMessage, func(e Event) bool { return e.Text == "day1 for c from b" }, 60*time.Second)
	msg(c, aID, "day2 c to a", a)
	advance(2 * time.Hour)
	time.Sleep(time.Second) // delayed receipts

	acts := view.acts(t)
	truth := mailboxTruth(users, startDay-1, a.today()+1)
	view.mu.Lock()
	user := maps.Clone(view.user) // node goroutines may still write through the hook
	conns := len(view.conns)
	view.mu.Unlock()

	var annPeers, putPeers, readPeers, latePeers int
	// 1 and 2: roles never mix; announce identities live one period.
	for p, x := range acts {
		mbox := len(x.subs) + len(x.reads)
		if len(x.announces) > 0 {
			annPeers++
			if mbox > 0 || len(x.puts) > 0 {
				t.Errorf("announce identity of %s also used mailboxes (link 1)", user[p])
			}
			sort.Slice(x.announces, func(i, j int) bool { return x.announces[i].Before(x.announces[j]) })
			if span := x.announces[len(x.announces)-1].Sub(x.announces[0]); span > time.Hour {
				t.Errorf("announce identity of %s spans %v of announcements (link 1)", user[p], span)
			}
		}
		if len(x.puts) > 0 {
			putPeers++
			if mbox > 0 || len(x.announces) > 0 {
				t.Errorf("identity of %s puts and also reads or announces (link 2)", user[p])
			}
			if len(x.puts) > 1 {
				t.Errorf("one identity of %s put into %d mailboxes (link 2)", user[p], len(x.puts))
			}
		}
		for _, n := range x.putSizes {
			if !protocol.IsBlobSize(n) {
				t.Errorf("a %d-byte blob was stored (link 4)", n)
			}
		}
		if mbox > 0 {
			readPeers++
		}
		if len(x.lateEpochs) > 0 {
			latePeers++
			if mbox > 0 || len(x.puts) > 0 || len(x.announces) > 0 {
				t.Errorf("late-announcing identity of %s also announced live or used mailboxes (link 5)", user[p])
			}
			slices.Sort(x.lateEpochs)
			if span := time.Duration(x.lateEpochs[len(x.lateEpochs)-1]-x.lateEpochs[0]) * time.Duration(a.cfg.EpochSeconds) * time.Second; span >= time.Hour {
				t.Errorf("late-announcing identity of %s spans %v of epochs (link 5)", user[p], span)
			}
		}
	}
	// 3: join identities through shared mailbox IDs, as the relay can.
	parent := map[peer.ID]peer.ID{}
	var find func(p peer.ID) peer.ID
	find = func(p peer.ID) peer.ID {
		if parent[p] == "" || parent[p] == p {
			parent[p] = p
			return p
		}
		parent[p] = find(parent[p])
		return parent[p]
	}
	byMbox := map[crypto.MailboxID]peer.ID{}
	for p, x := range acts {
		for _, set := range []map[crypto.MailboxID]bool{x.subs, x.reads} {
			for m := range set {
				if q, ok := byMbox[m]; ok {
					parent[find(p)] = find(q)
				} else {
					byMbox[m] = p
				}
			}
		}
	}
	type comp struct {
		days  map[uint32]bool
		users map[string]bool
		peers int
	}
	comps := map[peer.ID]*comp{}
	for p, x := range acts {
		if len(x.subs)+len(x.reads) == 0 {
			continue
		}
		root := find(p)
		cp := comps[root]
		if cp == nil {
			cp = &comp{days: map[uint32]bool{}, users: map[string]bool{}}
			comps[root] = cp
		}
		cp.peers++
		cp.users[user[p]] = true
		for _, set := range []map[crypto.MailboxID]bool{x.subs, x.reads} {
			for m := range set {
				if o, ok := truth[m]; ok {
					cp.days[o.day] = true
				}
			}
		}
	}
	for _, cp := range comps {
		if len(cp.days) > 1 {
			t.Errorf("the relay can join %d identities of %v across mailbox days %v (link 3)", cp.peers, cp.users, cp.days)
		}
	}
	t.Logf("the relay saw %d connections' peers: %d announce, %d mailbox (joined into %d one-day groups), %d put identities",
		conns, annPeers, readPeers, len(comps), putPeers)
	if annPeers < 6 || putPeers < 4 || len(comps) < 6 || latePeers < 2 {
		t.Fatalf("the scenario did too little to prove anything: %d announce, %d put, %d late identities, %d groups", annPeers, putPeers, latePeers, len(comps))
	}
}
