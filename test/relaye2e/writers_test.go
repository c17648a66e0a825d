package relaye2e

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/crypto"
)

// blobSize is the sealed size of every blob the writers put: one 1 KiB
// envelope bucket, the size of a small message or like.
const blobSize = 1 << 10

// ledger remembers, per writer mailbox, every blob the writers attempted
// (by hash) and every blob the relay acknowledged (by blob ID → hash).
// Only acknowledged blobs must survive a crash; anything found must be one
// that was attempted.
type ledger struct {
	sender    *crypto.Identity
	recipient *crypto.Identity
	sealer    *crypto.Sealer
	opener    *crypto.Recipient
	keys      []ed25519.PrivateKey
	hosts     []host.Host // one client host per writer, reused across restarts

	mu        sync.Mutex // guards attempted and acked
	attempted []map[[32]byte]bool
	acked     []map[string][32]byte
}

func newLedger(t *testing.T, writers int) *ledger {
	t.Helper()
	snd, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rcp, err := crypto.NewIdentity(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := crypto.NewSealer(snd, rcp.BoxPub())
	if err != nil {
		t.Fatal(err)
	}
	l := &ledger{sender: snd, recipient: rcp, sealer: s, opener: rcp.Recipient()}
	for range writers {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		l.keys = append(l.keys, priv)
		l.attempted = append(l.attempted, map[[32]byte]bool{})
		l.acked = append(l.acked, map[string][32]byte{})
	}
	l.hosts = make([]host.Host, writers)
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.hosts[w], errs[w] = newClientHost()
		}()
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, h := range l.hosts {
			if h != nil {
				h.Close()
			}
		}
	})
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// connectSlots bounds concurrent handshakes of the writers: a relay's
// resource manager refuses bursts of simultaneous inbound handshakes
// (transient scope), so a crowd of clients connecting at once trickles in.
var connectSlots = make(chan struct{}, 16)

// connectRetries is how often a writer retries connecting: 64 clients
// dialling one relay at once may be refused while handshakes queue up, as
// real clients would be; they retry with backoff, and so do we.
const connectRetries = 8

// openWithRetry opens a mailbox stream from h, retrying refused dials.
func openWithRetry(ctx context.Context, h host.Host, relay peer.AddrInfo) (*mbConn, error) {
	var err error
	backoff := 20 * time.Millisecond
	for range connectRetries {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		var c *mbConn
		c, err = openMailbox(cctx, h, relay)
		cancel()
		if err == nil {
			return c, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
	return nil, err
}

func (l *ledger) mailbox(w int) crypto.MailboxID {
	return crypto.MailboxIDFromPub(l.keys[w].Public().(ed25519.PublicKey))
}

// seal returns a fresh 1 KiB sealed envelope with a random payload.
func (l *ledger) seal() ([]byte, error) {
	payload := make([]byte, crypto.MaxPayloadIn(blobSize))
	var item [16]byte
	rand.Read(payload)
	rand.Read(item[:])
	b, err := l.sealer.Seal(rand.Reader, crypto.Header{Type: crypto.TypeMessage, ItemID: item, Created: time.Now().Unix()}, payload)
	if err != nil {
		return nil, err
	}
	if len(b) != blobSize {
		return nil, fmt.Errorf("sealed size %d, want %d", len(b), blobSize)
	}
	return b, nil
}

func (l *ledger) ackedCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, m := range l.acked {
		n += len(m)
	}
	return n
}

// writeUntilError runs one writer per key, each with its own libp2p host
// and connection, putting sealed blobs back to back until its connection
// fails (the relay was killed or stopped) or ctx ends. acks counts the
// acknowledgements of this run. It returns when every writer has stopped.
func (l *ledger) writeUntilError(ctx context.Context, t *testing.T, relay peer.AddrInfo, acks *atomic.Int64, ready *sync.WaitGroup) {
	var wg sync.WaitGroup
	for w := range l.keys {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.writer(ctx, t, w, relay, acks, ready)
		}()
	}
	wg.Wait()
}

func (l *ledger) writer(ctx context.Context, t *testing.T, w int, relay peer.AddrInfo, acks *atomic.Int64, ready *sync.WaitGroup) {
	connected := false
	defer func() {
		if !connected {
			ready.Done()
		}
	}()
	// The host is reused across restarts (same relay peer ID, new
	// addresses): drop the connection when done, or the next cycle would
	// find a half-dead QUIC connection to the killed process and use it.
	defer l.hosts[w].Network().ClosePeer(relay.ID)
	connectSlots <- struct{}{}
	c, err := openWithRetry(ctx, l.hosts[w], relay)
	<-connectSlots
	if err != nil {
		t.Errorf("writer %d: %v", w, err)
		return
	}
	defer c.Close()
	// After a kill -9 a QUIC client only notices at its idle timeout: reset
	// the stream as soon as the test says the relay is gone.
	stopReset := context.AfterFunc(ctx, func() { _ = c.s.Reset() })
	defer stopReset()
	connected = true
	ready.Done()
	mb := l.mailbox(w)
	for ctx.Err() == nil {
		blob, err := l.seal()
		if err != nil {
			t.Errorf("writer %d: seal: %v", w, err)
			return
		}
		sum := sha256.Sum256(blob)
		l.mu.Lock()
		l.attempted[w][sum] = true
		l.mu.Unlock()
		id, err := c.put(mb, blob)
		if err != nil {
			return // the relay went away: expected
		}
		l.mu.Lock()
		l.acked[w][string(id)] = sum
		l.mu.Unlock()
		acks.Add(1)
	}
}

// verify fetches every writer mailbox from the relay and checks that each
// acknowledged blob is present with the same bytes (and opens as a valid
// envelope), and that nothing is present that was never attempted.
func (l *ledger) verify(t *testing.T, relay peer.AddrInfo) {
	t.Helper()
	h, err := newClientHost()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, err := openWithRetry(ctx, h, relay)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	total, opened := 0, 0
	for w, key := range l.keys {
		blobs, err := c.fetchAll(key)
		if err != nil {
			t.Fatalf("writer %d: %v", w, err)
		}
		got := map[string][]byte{}
		mb := l.mailbox(w)
		for _, b := range blobs {
			if !bytes.Equal(b.MailboxId, mb[:]) {
				t.Fatalf("writer %d: fetch returned a blob of another mailbox", w)
			}
			got[string(b.BlobId)] = b.Data
			if !l.attempted[w][sha256.Sum256(b.Data)] {
				t.Fatalf("writer %d: relay returned a blob nobody put (corrupt?)", w)
			}
		}
		for id, sum := range l.acked[w] {
			data, ok := got[id]
			if !ok {
				t.Fatalf("writer %d: acknowledged blob %x lost", w, id)
			}
			if sha256.Sum256(data) != sum {
				t.Fatalf("writer %d: acknowledged blob %x corrupted", w, id)
			}
			// The hash proves the bytes; opening one per mailbox also
			// proves they are what a recipient can use (cheaply).
			if opened <= w {
				if _, err := l.opener.Open(data); err != nil {
					t.Fatalf("writer %d: blob %x does not open: %v", w, id, err)
				}
				opened++
			}
			total++
		}
	}
	t.Logf("verified %d acknowledged blobs in %d mailboxes (%d opened)", total, len(l.keys), opened)
}
