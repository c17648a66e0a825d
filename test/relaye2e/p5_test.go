package relaye2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node"
	"github.com/imigee/imigee/relay"
	"github.com/imigee/imigee/test/internal/e2e"
)

// TestP5ContactsNeverReachRelay proves DESIGN.md P5/P6 against a real
// relay process: two phones (node library, this process) claim random
// marker phone numbers, hold each other's, sync and are proposed to each
// other. Afterwards no spelling of either number (as typed, E.164, digits,
// national digits), no handle string and no hash the code computes of them
// (SHA-256 of the handle and of the pair input, raw and hex) is in the
// relay's database files, its debug log, its metrics or its live process
// memory. Positive control: with the relay's own contact key (read from its
// data directory) the test derives the pair's entry ID and finds it in the
// contacts database, so the scans read the right files; the log holds the
// startup line and the metrics the contact entries gauge.
func TestP5ContactsNeverReachRelay(t *testing.T) {
	e2e.RequireProcMem(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	r := startRelay(t, dataDir, "", "-log-level", "debug")
	r.waitReady(t)
	addrs := []string{}
	for _, a := range r.info.Addrs {
		addrs = append(addrs, a.String()+"/p2p/"+r.info.ID.String())
	}
	numA, numB := randMobile(t), randMobile(t)
	a := startPhone(t, addrs, numA)
	b := startPhone(t, addrs, numB)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := a.SyncContacts(ctx, []node.Contact{{Name: "B", Handles: []string{numB}}}); err != nil {
		t.Fatal(err)
	}
	res, err := b.SyncContacts(ctx, []node.Contact{{Name: "A", Handles: []string{numA}}})
	if err != nil || res.NewMatches != 1 {
		t.Fatalf("b's sync: %+v %v", res, err)
	}

	e164A, e164B := "tel:"+numA, "tel:"+numB
	x0, _ := crypto.ContactPairInput(e164A, e164B)
	var needles [][]byte
	for _, n := range []string{numA, numB} {
		digits := n[1:]
		needles = append(needles, []byte(n), []byte(digits), []byte("0"+digits[2:]), []byte(digits[2:]))
	}
	for _, s := range [][]byte{[]byte(e164A), []byte(e164B), x0} {
		h := sha256.Sum256(s)
		needles = append(needles, s, h[:], []byte(hex.EncodeToString(h[:])))
	}
	metrics, err := e2e.HTTPGet(ctx, "http://"+r.admin+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	contactsDB := filepath.Join(dataDir, relay.ContactsFile)
	for i, nd := range needles {
		for _, f := range []string{contactsDB, filepath.Join(dataDir, relay.StoreFile), r.LogPath} {
			mustFind(t, fmt.Sprintf("needle %d in %s", i, filepath.Base(f)), f, nd, false)
		}
		if bytes.Contains(metrics, nd) {
			t.Fatalf("needle %d in the metrics", i)
		}
		memSearch(t, r.Pid(), nd, false)
	}

	// Positive control: the relay's key (read from its data directory)
	// gives the entry ID, which is there.
	kb, err := os.ReadFile(filepath.Join(dataDir, "contacts.key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := crypto.ParseContactKey(kb)
	if err != nil {
		t.Fatal(err)
	}
	y, err := key.FullEvaluate(x0)
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ := crypto.ContactEntryKeys(y)
	mustFind(t, "the pair's entry ID in the contacts database", contactsDB, id[:], true)
	// Controls for the log and metrics scans: each holds what the relay
	// does write there, so a "not found" above means something.
	mustFind(t, "startup line in the log", r.LogPath, []byte("relay started"), true)
	if !bytes.Contains(metrics, []byte("imigee_relay_contacts_entries")) {
		t.Fatal("metrics lack the contact entries gauge: the metrics scan read the wrong page")
	}
}

// randMobile is a random French mobile number in E.164 (+336 and 8 digits).
func randMobile(t *testing.T) string {
	n, err := rand.Int(rand.Reader, big.NewInt(100_000_000))
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("+336%08d", n.Int64())
}

func startPhone(t *testing.T, relays []string, number string) *node.Node {
	t.Helper()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	n, err := node.New(node.Config{DataDir: t.TempDir(), StoreKey: key, Relays: relays,
		ListenAddrs: []string{"/ip4/127.0.0.1/udp/0/quic-v1", "/ip4/127.0.0.1/tcp/0"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		n.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if err := n.SetHandles([]string{number}); err != nil {
		t.Fatal(err)
	}
	return n
}
