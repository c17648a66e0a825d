package rendezvous

import (
	"errors"
	"testing"
	"time"
)

// limitAccount is a test accountant with a limit.
type limitAccount struct{ used, limit int }

func (a *limitAccount) Reserve(n int) error {
	if a.used+n > a.limit {
		return errors.New("full")
	}
	a.used += n
	return nil
}
func (a *limitAccount) Release(n int) { a.used -= n }

// TestAccountedSession: an accounted session reserves its entries and
// records before they are added; a refusal is ErrMemory and changes
// nothing; withdraw, close and expiry hand every byte back.
func TestAccountedSession(t *testing.T) {
	e, c, ep := newEngine(t, Config{})
	acct := &limitAccount{limit: 3*EntryBytes + 2*(100+RecordOverhead) + (50 + RecordOverhead)}
	s := e.NewAccountedSession(nil, NewGroup(), acct)
	rec := make([]byte, 100)
	one := []Announcement{{Tokens: []Token{tok(1, true), tok(2, true)}, Record: rec}}
	if _, _, _, err := e.AnnounceShared(s, secs, ep, make([]byte, 50), one); err != nil {
		t.Fatal(err)
	}
	want := 2*EntryBytes + 100 + RecordOverhead + 50 + RecordOverhead
	if acct.used != want {
		t.Fatalf("reserved %d, want %d", acct.used, want)
	}
	// A re-announce of the same tokens is free.
	if n, _, _, err := e.Announce(s, secs, ep, one); err != nil || n != 0 || acct.used != want {
		t.Fatalf("re-announce: n=%d err=%v used %d", n, err, acct.used)
	}
	// Two more tokens with a record do not fit: refused, nothing changed.
	before := e.Stats()
	two := []Announcement{{Tokens: []Token{tok(3, true), tok(4, true)}, Record: rec}}
	if _, _, _, err := e.Announce(s, secs, ep, two); !errors.Is(err, ErrMemory) {
		t.Fatalf("over budget: %v, want ErrMemory", err)
	}
	if after := e.Stats(); after.Entries != before.Entries || after.RecordBytes != before.RecordBytes || acct.used != want {
		t.Fatalf("refusal changed state: %+v → %+v, used %d", before, after, acct.used)
	}
	// One fits.
	if _, _, _, err := e.Announce(s, secs, ep, []Announcement{{Tokens: []Token{tok(3, true)}, Record: rec}}); err != nil {
		t.Fatal(err)
	}
	if e.Withdraw(s); acct.used != 0 {
		t.Fatalf("after withdraw %d bytes still reserved", acct.used)
	}
	// Expiry: entries die two epochs later and release.
	if _, _, _, err := e.AnnounceShared(s, secs, ep, make([]byte, 50), one); err != nil {
		t.Fatal(err)
	}
	if acct.used == 0 {
		t.Fatal("nothing reserved")
	}
	c.add(2*secs*time.Second + DefaultSkew)
	if n := e.Sweep(); n != 2 || acct.used != 0 {
		t.Fatalf("sweep dropped %d, %d bytes still reserved", n, acct.used)
	}
	// Close releases too.
	ep2 := uint64(c.now().Unix()) / secs
	if _, _, _, err := e.Announce(s, secs, ep2, one); err != nil {
		t.Fatal(err)
	}
	if e.Close(s); acct.used != 0 {
		t.Fatalf("after close %d bytes still reserved", acct.used)
	}
}
