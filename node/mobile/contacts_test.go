package mobile

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/relay"
)

// TestContactMatchThroughFacade: two apps claim their numbers, sync
// address books holding each other, both get contact_match, accept, and
// are friends — through the facade only, over a real relay whose contact
// key is published to the apps. A bad handle and sync without handles
// give their codes.
func TestContactMatchThroughFacade(t *testing.T) {
	key, _ := crypto.NewContactKey(strings.NewReader(strings.Repeat("m", 32)))
	r := startRelay(t, func(c *relay.Config) {
		c.Contacts.Key = key
		c.Contacts.Difficulty = 4
	})
	addr, _ := relayQUIC(t, r)
	netJSON := `{"chain":[{"relay":"` + addr + `","public_key":"` + hex.EncodeToString(key.PublicKey()) + `"}],"directory":["` + addr + `"]}`
	mk := func() (*Node, *evs) {
		e := newEvs()
		n, err := NewNode(&Config{DataDir: t.TempDir(), StoreKey: newKey(), Relays: addr, ContactsNetworkJSON: netJSON, ContactsRegion: "FR"}, e)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		if err := n.Start(); err != nil {
			t.Fatal(err)
		}
		return n, e
	}
	a, ea := mk()
	b, eb := mk()
	if _, err := a.SyncContacts(`[{"Name":"B","Handles":["+49 151 12345678"]}]`, 30000); ErrorCode(err) != CodeNoHandles {
		t.Fatalf("sync without handles: %v", err)
	}
	if err := a.SetHandles("not a number"); ErrorCode(err) != CodeBadHandle {
		t.Fatalf("bad handle: %v", err)
	}
	if err := a.SetHandles("06 12 34 56 78"); err != nil {
		t.Fatal(err)
	}
	if err := b.SetHandles("+49 151 12345678"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.SyncContacts(`[{"Name":"Bob","Handles":["+49 151 12345678"]}]`, 30000); err != nil {
		t.Fatal(err)
	}
	if _, err := b.SyncContacts(`[{"Name":"Alice","Handles":["+33612345678"]}]`, 30000); err != nil {
		t.Fatal(err)
	}
	mb := eb.wait(t, EventContactMatch, nil, 10*time.Second)
	if mb.Text != "Alice" || mb.Handle != "tel:+33612345678" {
		t.Fatalf("bob's event %+v", mb)
	}
	if _, err := a.SyncContacts(`[{"Name":"Bob","Handles":["+49 151 12345678"]}]`, 30000); err != nil {
		t.Fatal(err)
	}
	ma := ea.wait(t, EventContactMatch, nil, 10*time.Second)
	if !strings.Contains(a.ContactMatchesJSON(), `"State":"proposed"`) {
		t.Fatalf("matches %s", a.ContactMatchesJSON())
	}
	if st, err := a.AcceptMatch(ma.ItemID, 30000); err != nil || st != "accepted" {
		t.Fatalf("a accepts: %s %v", st, err)
	}
	if st, err := b.AcceptMatch(mb.ItemID, 30000); err != nil || st != "linked" {
		t.Fatalf("b accepts: %s %v", st, err)
	}
	if err := a.RejectMatch("nope", 1000); ErrorCode(err) != CodeUnknownMatch {
		t.Fatalf("unknown match: %v", err)
	}
	if !strings.Contains(b.FriendsJSON(), a.ID()) {
		t.Fatalf("b's friends %s", b.FriendsJSON())
	}
	if got := a.AnalyticsPreviewJSON(); got != "{}" {
		t.Fatalf("analytics preview with analytics off: %s", got)
	}
	if _, err := a.SendAnalytics(1000); ErrorCode(err) != CodeAnalyticsOff {
		t.Fatalf("analytics off: %v", err)
	}
}
