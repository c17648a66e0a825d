package node

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imigee/imigee/node/localstore"
)

func TestForgetLeavesNothingAtRelay(t *testing.T) {
	_, _, a, b, bID, aID := pair(t)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	path, _ := writeFile(t, 70<<10)
	if _, err := a.SharePhoto(path, []string{bID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return relayPending(t, a.Node) >= 2 })
	keys := a.allMailboxKeys()
	a.mu.Lock()
	var rc *relayConn
	for _, r := range a.rconns {
		rc = r
	}
	a.mu.Unlock()
	_ = aID
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Forget(ctx); err != nil {
		t.Fatal(err)
	}
	// Check with a fresh client on a third node's host, using a's keys.
	c := newTestNode(t, newTestClock(), relayAddrsOf(rc))
	c.mu.Lock()
	var crc *relayConn
	for _, r := range c.rconns {
		crc = r
	}
	c.mu.Unlock()
	left, err := crc.c.List(ctx, keys[:min(len(keys), 1024)])
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 0 {
		t.Fatalf("relay still holds %d blobs", len(left))
	}
	if _, err := os.Stat(filepath.Join(a.dir, localstore.FileName)); !os.IsNotExist(err) {
		t.Fatalf("store not wiped: %v", err)
	}
	if _, err := a.Invite(); err == nil {
		t.Fatal("forgotten node still works")
	}
}

func relayAddrsOf(rc *relayConn) []string {
	var out []string
	for _, a := range rc.ai.Addrs {
		out = append(out, a.String()+"/p2p/"+rc.ai.ID.String())
	}
	return out
}
