package relaye2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imigee/imigee/node/relayclient"
)

// historyWriters is the number of concurrent announcers in the kill -9
// test; each alternates live and late announcements.
const historyWriters = 16

// annLedger records every announcement the relay acknowledged: token →
// record, per epoch.
type annLedger struct {
	mu  sync.Mutex
	ack map[uint64]map[[8]byte]string
}

func (l *annLedger) add(epoch uint64, toks [][8]byte, rec string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ack[epoch] == nil {
		l.ack[epoch] = make(map[[8]byte]string)
	}
	for _, t := range toks {
		l.ack[epoch][t] = rec
	}
}

// TestHistoryKill9: live and late announcements acknowledged by a real
// relay process survive kill -9: after a restart on the same data dir, a
// late announcement of each acknowledged token matches it with the
// original record.
func TestHistoryKill9(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	logPath := filepath.Join(t.TempDir(), "relay.log")
	r := startRelay(t, dataDir, logPath)
	r.waitReady(t)
	const es = 600
	now := uint64(time.Now().Unix()) / es
	pastEpoch := now - 3
	l := &annLedger{ack: make(map[uint64]map[[8]byte]string)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var acks atomic.Int64
	var wg sync.WaitGroup
	for w := range historyWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := newClientHost()
			if err != nil {
				t.Error(err)
				return
			}
			defer h.Close()
			c := relayclient.New(h, r.info, relayclient.Config{})
			defer c.Close()
			rv, err := c.Rendezvous(ctx, func(relayclient.Match) {})
			if err != nil {
				if ctx.Err() == nil {
					t.Error(err)
				}
				return
			}
			defer rv.Close()
			for i := 0; ctx.Err() == nil; i++ {
				var toks [][8]byte
				ann := relayclient.Announcement{Record: []byte(fmt.Sprintf("w%d-%d", w, i))}
				for range 2 {
					var tk [8]byte
					rand.Read(tk[:])
					toks = append(toks, tk)
					ann.Tokens = append(ann.Tokens, relayclient.Token{Value: tk, Here: true})
				}
				var epoch uint64
				if i%2 == 0 {
					epoch = uint64(time.Now().Unix()) / es
					_, _, err = rv.AnnounceTagged(ctx, es, epoch, nil, nil, []relayclient.Announcement{ann})
				} else {
					epoch = pastEpoch
					_, _, err = rv.LateAnnounce(ctx, es, epoch, nil, nil, []relayclient.Announcement{ann})
				}
				if err != nil {
					return // the relay died (or the test ends)
				}
				l.add(epoch, toks, string(ann.Record))
				acks.Add(1)
			}
		}()
	}
	eventually(t, "announcements to be acknowledged", func() bool { return acks.Load() >= 200 })
	r.kill9(t)
	cancel()
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	r = startRelay(t, dataDir, logPath)
	r.waitReady(t)
	vctx, vcancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer vcancel()
	h, err := newClientHost()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	c := relayclient.New(h, r.info, relayclient.Config{})
	defer c.Close()
	rv, err := c.Rendezvous(vctx, func(relayclient.Match) {})
	if err != nil {
		t.Fatal(err)
	}
	defer rv.Close()
	total := 0
	for epoch, want := range l.ack {
		// At most 512 tokens per late announcement, so every match fits
		// one answer (protocol.MaxMatchesPerResult).
		var all [][8]byte
		for tk := range want {
			all = append(all, tk)
		}
		got := make(map[[8]byte]string)
		for len(all) > 0 {
			chunk := all[:min(512, len(all))]
			all = all[len(chunk):]
			var anns []relayclient.Announcement
			for i := 0; i < len(chunk); i += 32 {
				a := relayclient.Announcement{Record: []byte("verifier")}
				for _, tk := range chunk[i:min(i+32, len(chunk))] {
					a.Tokens = append(a.Tokens, relayclient.Token{Value: tk, Here: true})
				}
				anns = append(anns, a)
			}
			_, ms, err := rv.LateAnnounce(vctx, es, epoch, nil, nil, anns)
			if err != nil {
				t.Fatalf("verify epoch %d: %v", epoch, err)
			}
			for _, m := range ms {
				got[m.Token] = string(m.Record)
			}
		}
		for tk, rec := range want {
			if got[tk] != rec {
				t.Fatalf("acknowledged announcement %q lost (epoch %d): got %q", rec, epoch, got[tk])
			}
		}
		total += len(want)
	}
	t.Logf("%d acknowledged tokens (live and late) all found after kill -9", total)
	r.stop(t)
}
