package relaye2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/relayclient"
)

// TestRelayclientAgainstDaemon drives the daemon with the real client
// library the node uses (node/relayclient): subscribe → put → pushed
// notify → fetch → ack → gone, forget, and a rendezvous match between two
// sessions; then checks /metrics is still aggregate only with mailbox and
// rendezvous traffic behind it.
func TestRelayclientAgainstDaemon(t *testing.T) {
	r := startRelay(t, t.TempDir(), "")
	r.waitReady(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	newClient := func() *relayclient.Client {
		h, err := newClientHost()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { h.Close() })
		c := relayclient.New(h, r.info, relayclient.Config{})
		t.Cleanup(func() { c.Close() })
		return c
	}
	sender, recipient := newClient(), newClient()
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	keys := []ed25519.PrivateKey{key}
	mb := crypto.MailboxIDFromPub(key.Public().(ed25519.PublicKey))

	notified := make(chan relayclient.Notify, 4)
	sub, err := recipient.Subscribe(ctx, keys, func(n relayclient.Notify) { notified <- n })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	blob := bytes.Repeat([]byte{0xA5}, 1024)
	id, err := sender.Put(ctx, mb, blob)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case n := <-notified:
		if n.ID != id || n.Mailbox != mb {
			t.Fatalf("notify %x/%x, want %x/%x", n.Mailbox, n.ID, mb, id)
		}
	case <-ctx.Done():
		t.Fatal("no push notification")
	}
	blobs, _, err := recipient.Fetch(ctx, keys, relayclient.FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != 1 || blobs[0].ID != id || !bytes.Equal(blobs[0].Data, blob) {
		t.Fatalf("fetched %d blobs, want the one put", len(blobs))
	}
	if n, err := recipient.Ack(ctx, keys, []relayclient.Ref{blobs[0].Ref()}); err != nil || n != 1 {
		t.Fatalf("ack: %d, %v", n, err)
	}
	if blobs, _, err := recipient.Fetch(ctx, keys, relayclient.FetchOptions{}); err != nil || len(blobs) != 0 {
		t.Fatalf("after ack: %d blobs, err %v", len(blobs), err)
	}
	if _, err := sender.Put(ctx, mb, blob); err != nil {
		t.Fatal(err)
	}
	if n, err := recipient.Forget(ctx, keys); err != nil || n != 1 {
		t.Fatalf("forget: %d, %v", n, err)
	}

	// Rendezvous: two sessions announce the same token in this epoch.
	const epochSeconds = 600
	epoch := uint64(time.Now().Unix()) / epochSeconds
	var tok [8]byte
	rand.Read(tok[:])
	pushed := make(chan relayclient.Match, 1)
	rvA, err := sender.Rendezvous(ctx, func(m relayclient.Match) { pushed <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer rvA.Close()
	rvB, err := recipient.Rendezvous(ctx, func(relayclient.Match) {})
	if err != nil {
		t.Fatal(err)
	}
	defer rvB.Close()
	recA, recB := []byte("sealed-record-A"), []byte("sealed-record-B")
	if _, _, err := rvA.Announce(ctx, epochSeconds, epoch, []relayclient.Announcement{{Tokens: []relayclient.Token{{Value: tok, Here: true}}, Record: recA}}); err != nil {
		t.Fatal(err)
	}
	_, matches, err := rvB.Announce(ctx, epochSeconds, epoch, []relayclient.Announcement{{Tokens: []relayclient.Token{{Value: tok, Here: true}}, Record: recB}})
	if err != nil {
		t.Fatal(err)
	}
	if len(matches) != 1 || !bytes.Equal(matches[0].Record, recA) {
		t.Fatalf("announcer B got matches %+v, want A's record", matches)
	}
	select {
	case m := <-pushed:
		if !bytes.Equal(m.Record, recB) {
			t.Fatalf("A was pushed record %q, want B's", m.Record)
		}
	case <-ctx.Done():
		t.Fatal("A was not pushed the match")
	}

	checkMetricsAggregate(t, ctx, r.admin, r.info.ID.String(), "127.0.0.1",
		hex.EncodeToString(mb[:]), hex.EncodeToString(tok[:]), string(recA))
}
