package inproc

import (
	"sync"
	"testing"
	"time"

	"github.com/imigee/imigee/node"
	"github.com/imigee/imigee/relay/history"
	"github.com/imigee/imigee/test/testnet"
)

// TestHistoryDefaultsMatch: the scenario's [history] defaults and bound
// restate the relay's and the node's (package testnet imports neither);
// a scenario that leaves them unset runs with the components' own
// defaults, and validation accepts exactly what they accept.
func TestHistoryDefaultsMatch(t *testing.T) {
	for _, c := range []struct {
		name          string
		testnet, real time.Duration
	}{
		{"relay default window", testnet.DefaultRelayHistory, history.DefaultWindow},
		{"node default window", testnet.DefaultNodeHistory, node.DefaultHistoryWindow},
		{"relay max window", testnet.MaxHistory, history.MaxWindow},
		{"node max window", testnet.MaxHistory, node.MaxHistoryWindow},
	} {
		if c.testnet != c.real {
			t.Errorf("%s: testnet says %v, the component %v", c.name, c.testnet, c.real)
		}
	}
}

// TestSetNetworkReachesNode: a phone losing reception is told
// node.NetworkNone, keeps that state across a restart (the driver applies
// it before the node starts), and is told a real network kind when
// reception comes back; a node's friend_was_nearby becomes a testnet
// event with the span in virtual ms, and the scenario's node history
// window reaches the node's config (0 = off).
func TestSetNetworkReachesNode(t *testing.T) {
	s, err := testnet.ParseScenario([]byte("nodes = 2\nepoch = \"1m\"\n[graph]\nmodel = \"complete\"\n[history]\nnode_window = \"0s\"\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	g, err := testnet.BuildGraph(s)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var evs []testnet.Event
	env := &testnet.Env{Scenario: s, Graph: g, Now: func() time.Time { return s.Start.Add(time.Hour) }, Dir: t.TempDir(),
		Emit: func(e testnet.Event) { mu.Lock(); evs = append(evs, e); mu.Unlock() }}
	nw, err := (&Backend{}).Open(t.Context(), env)
	if err != nil {
		t.Fatal(err)
	}
	defer nw.Close()
	nd := nw.Node(0).(*nodeDriver)
	if nd.cfg.History.Window >= 0 {
		t.Errorf("node_window 0s should turn node history off, got %v", nd.cfg.History.Window)
	}
	status := func() string { k, _ := nd.node().NetworkStatus(); return k }
	if err := nd.SetNetwork(false); err != nil {
		t.Fatal(err)
	}
	if k := status(); k != node.NetworkNone {
		t.Fatalf("after SetNetwork(false): %q", k)
	}
	if err := nd.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := nd.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if k := status(); k != node.NetworkNone {
		t.Fatalf("restarted without reception, but the node was told %q", k)
	}
	if err := nd.SetNetwork(true); err != nil {
		t.Fatal(err)
	}
	if k := status(); k != node.NetworkCellular {
		t.Fatalf("after SetNetwork(true): %q", k)
	}
	peer := nw.Node(1).(*nodeDriver).id
	st := s.Start.Unix()
	nd.OnEvent(&node.Event{Kind: node.EventFriendWasNearby, FriendID: peer, From: st + 600, To: st + 1800})
	mu.Lock()
	defer mu.Unlock()
	var got *testnet.Event
	for i := range evs {
		if evs[i].Kind == testnet.KindWasNearby {
			got = &evs[i]
		}
	}
	if got == nil || got.Node != 0 || got.Peer != 1 || got.SpanFrom != 600_000 || got.SpanTo != 1_800_000 {
		t.Fatalf("friend_was_nearby event: %+v", got)
	}
}
