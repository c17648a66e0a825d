package store

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/imigee/imigee/crypto"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path) // never returns: runs until the parent kills it
	}
	goleak.VerifyTestMain(m)
}

// fakeClock is an injectable clock for retention tests.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// testConfig is a Config in a fresh temp dir with the sweeper off and a
// fake clock; tweak it before openTest.
func testConfig(t testing.TB) (Config, *fakeClock) {
	clk := newFakeClock()
	cfg := DefaultConfig(filepath.Join(t.TempDir(), "store.db"))
	cfg.SweepInterval = -1
	cfg.Now = clk.Now
	return cfg, clk
}

// openTest opens a store that is checked for consistency and closed when
// the test ends.
func openTest(t testing.TB, cfg Config) *Store {
	t.Helper()
	s, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		mustCheck(t, s)
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

func mustCheck(t testing.TB, s *Store) {
	t.Helper()
	s.mu.RLock()
	closed := s.closed
	s.mu.RUnlock()
	if closed {
		return
	}
	if err := s.Check(); err != nil {
		t.Errorf("consistency: %v", err)
	}
}

func randMailbox() crypto.MailboxID {
	var m crypto.MailboxID
	rand.Read(m[:])
	return m
}

func randData(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func mustPut(t testing.TB, s *Store, m crypto.MailboxID, data []byte) BlobID {
	t.Helper()
	id, _, err := s.Put(context.Background(), m, data)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
