package node

import (
	"crypto/rand"
	"fmt"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/localstore"
)

// PrekeyFreshDays is how old a friend's prekey may be for sealing offline
// items to it: 7 days. Older (or none): the friend's long-term box key.
const PrekeyFreshDays = 7

// ownPrekey is one of this device's daily prekeys (stored sealed at rest).
type ownPrekey struct {
	Day    uint32
	Priv   []byte
	Signed []byte
}

// ensurePrekeys makes today's prekey if missing, erases those older than
// crypto.PrekeyRetentionDays (forward secrecy for mailbox items), and
// rebuilds the recipients used to open mailbox blobs.
func (n *Node) ensurePrekeys() error {
	today := n.today()
	var pks []ownPrekey
	if err := n.getJSON(localstore.Meta, "prekeys", &pks); err != nil {
		return err
	}
	keep := pks[:0]
	have := false
	for _, p := range pks {
		if p.Day+crypto.PrekeyRetentionDays < today {
			continue
		}
		have = have || p.Day == today
		keep = append(keep, p)
	}
	if !have {
		priv, sp, err := crypto.NewPrekey(rand.Reader, n.id, today)
		if err != nil {
			return fmt.Errorf("node: prekey: %w", err)
		}
		b, _ := sp.MarshalBinary()
		keep = append(keep, ownPrekey{Day: today, Priv: priv[:], Signed: b})
	}
	if err := n.putJSON(localstore.Meta, "prekeys", keep); err != nil {
		return err
	}
	var recips []*crypto.Recipient
	var current []byte
	for _, p := range keep {
		var k [32]byte
		copy(k[:], p.Priv)
		r, err := crypto.NewRecipient(&k)
		if err != nil {
			continue
		}
		recips = append(recips, r)
		if p.Day == today {
			current = p.Signed
		}
	}
	n.mu.Lock()
	n.prekeyRecips, n.prekeyCurrent, n.prekeyDay = recips, current, today
	n.mu.Unlock()
	return nil
}

// currentPrekey returns this device's signed prekey for today.
func (n *Node) currentPrekey() []byte {
	n.mu.Lock()
	stale := n.prekeyDay != n.today()
	n.mu.Unlock()
	if stale {
		if err := n.ensurePrekeys(); err != nil {
			n.log.Warn("prekey rotation failed", "err", err)
		}
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.prekeyCurrent
}

// openAny opens an envelope sealed to this device's box key or to one of
// its prekeys still held.
func (n *Node) openAny(sealed []byte) (*crypto.Opened, error) {
	op, err := n.id.Recipient().Open(sealed)
	if err == nil {
		return op, nil
	}
	n.mu.Lock()
	recips := n.prekeyRecips
	n.mu.Unlock()
	for _, r := range recips {
		if op, perr := r.Open(sealed); perr == nil {
			return op, nil
		}
	}
	return nil, err
}

// notePrekey stores a friend's signed prekey if it verifies and is newer.
func (n *Node) notePrekey(f *friend, b []byte) {
	p, err := crypto.ParsePrekey(b)
	if err != nil || p.Verify(f.card) != nil || p.Day > n.today()+1 {
		return
	}
	n.mu.Lock()
	old, _ := crypto.ParsePrekey(f.saved.Prekey)
	newer := len(f.saved.Prekey) == 0 || p.Day > old.Day
	if newer {
		f.saved.Prekey = append([]byte(nil), b...)
	}
	n.mu.Unlock()
	if newer {
		_ = n.saveFriend(f)
	}
}

// mailboxKeyFor returns the key offline items to f are sealed to: its
// fresh prekey, else its box key.
func (n *Node) mailboxKeyFor(f *friend) [32]byte {
	n.mu.Lock()
	b := f.saved.Prekey
	n.mu.Unlock()
	if p, err := crypto.ParsePrekey(b); err == nil && p.Day+PrekeyFreshDays >= n.today() {
		return p.Pub
	}
	return f.card.BoxPub
}
