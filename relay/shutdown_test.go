package relay

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
	"github.com/imigee/imigee/relay/store"
)

// TestShutdownKeepsEveryAcknowledgedPut: Shutdown while 16 writers put
// continuously; afterwards every put the relay acknowledged is in the
// database, intact, and the relay refused or dropped the rest.
func TestShutdownKeepsEveryAcknowledgedPut(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.RequestsPerSecond = 1e9
	cfg.Limits.RequestBurst = 1 << 30
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	h := clientHost(t, "quic")
	type acked struct {
		mbox crypto.MailboxID
		id   store.BlobID
		data byte
	}
	var (
		mu  sync.Mutex
		got []acked
		wg  sync.WaitGroup
	)
	started := make(chan struct{}, 16)
	for w := range 16 {
		s := openRaw(t, h, r, "quic", protocol.MailboxProtocol)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mbox crypto.MailboxID
			mbox[0] = byte(w)
			for i := 0; ; i++ {
				s.id++
				req := &pb.MailboxRequest{Id: s.id, Body: &pb.MailboxRequest_Put{Put: &pb.Put{MailboxId: mbox[:], Blob: []byte{byte(i), 1, 2, 3}}}}
				if protocol.WriteMsg(s.s, req) != nil {
					return
				}
				_ = s.s.SetReadDeadline(time.Now().Add(10 * time.Second))
				resp := &pb.MailboxResponse{}
				if s.r.ReadMsg(resp) != nil || resp.GetPut() == nil {
					return
				}
				mu.Lock()
				got = append(got, acked{mbox, store.BlobID(resp.GetPut().BlobId), byte(i)})
				mu.Unlock()
				if i == 10 {
					started <- struct{}{}
				}
			}
		}()
	}
	for range 16 {
		<-started
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if r.Ready() {
		t.Fatal("ready after shutdown")
	}
	st, err := store.Open(store.Config{Path: filepath.Join(cfg.DataDir, StoreFile), SweepInterval: -1, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, a := range got {
		b, ok, err := st.Get(a.mbox, a.id)
		if err != nil || !ok || len(b.Data) != 4 || b.Data[0] != a.data {
			t.Fatalf("acknowledged blob missing or damaged after shutdown: ok=%v err=%v", ok, err)
		}
	}
	t.Logf("%d acknowledged puts all present", len(got))
}
