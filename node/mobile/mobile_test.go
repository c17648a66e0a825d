package mobile

import (
	"crypto/rand"
	"encoding/json"
	"testing"

	"go.uber.org/goleak"
)

type sink struct{ got []*Event }

func (s *sink) OnEvent(e *Event) { s.got = append(s.got, e) }

func TestFacadeLifecycle(t *testing.T) {
	defer goleak.VerifyNone(t,
		goleak.IgnoreAnyFunction("github.com/libp2p/go-libp2p/p2p/transport/quicreuse.(*reuse).gc"),
		goleak.IgnoreAnyFunction("github.com/ipfs/go-log/v2/writer.(*MirrorWriter).logRoutine"),
		goleak.IgnoreAnyFunction("github.com/libp2p/go-flow-metrics.(*sweeper).run"),
	)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	n, err := NewNode(&Config{DataDir: t.TempDir(), StoreKey: key}, &sink{})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(); err != nil {
		t.Fatal(err)
	}
	inv, err := n.Invite()
	if err != nil || inv == "" {
		t.Fatalf("invite: %v", err)
	}
	var fs []map[string]any
	if err := json.Unmarshal([]byte(n.FriendsJSON()), &fs); err != nil || len(fs) != 0 {
		t.Fatalf("friends json: %v %v", fs, err)
	}
	if err := n.SetSharePolicyJSON(`{"Mode":"nearby"}`); err != nil {
		t.Fatal(err)
	}
	if err := n.SetSharePolicyJSON(`{"Mode":"bogus"}`); err == nil {
		t.Fatal("bad policy accepted")
	}
	if err := n.SetLocation(1, 2, 3); err != nil {
		t.Fatal(err)
	}
	if n.InboxJSON() != "null" && n.InboxJSON() != "[]" {
		t.Fatalf("inbox %s", n.InboxJSON())
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}
