package node

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/localstore"
)

// Item limits.
const (
	// MaxItemSize caps a photo or video: 4 GiB.
	MaxItemSize = 4 << 30
	// MaxMessageLen caps a message text: 16 KiB of UTF-8.
	MaxMessageLen = 16 << 10
	// MaxRecipients caps the friends of one share: 256.
	MaxRecipients = 256
	// progressStep is how often progress events fire: every 1 MiB.
	progressStep = 1 << 20
)

// Recipient states in the outbox.
const (
	rPending   = "pending"   // not yet delivered
	rPosted    = "posted"    // at the friend's relay mailbox, no receipt yet
	rDelivered = "delivered" // signed receipt received
	rRejected  = "rejected"  // the friend declined
	rFailed    = "failed"    // retention passed
)

// outItem is an outbox record: an item this device sends.
type outItem struct {
	ID     string
	Type   string
	Text   string `json:",omitempty"`
	Name   string `json:",omitempty"` // original file name (extension hint)
	Path   string `json:",omitempty"` // original file
	Sealed string `json:",omitempty"` // pending sealed copy (photo/video)
	// Sealing: the pending copy is not whole yet (sealing.go). Until Hash
	// is set too, the item is not deliverable.
	Sealing bool `json:",omitempty"`
	Size    int64
	Hash    []byte `json:",omitempty"`
	Key     []byte `json:",omitempty"` // crypto.StreamKey, binary
	Created int64
	// Taken is the capture time (unix seconds) the app or the CLI gave
	// (SharePhotoTaken); 0: unknown. It travels in the sealed offer.
	Taken int64 `json:",omitempty"`
	To    map[string]*recip
}

type recip struct {
	State    string
	Attempts int
	NextTry  int64 // unix seconds
	LastTry  int64
	Gen      uint64 // Node.gen at the last attempt; a newer gen makes it due
}

// publicState maps the stored recipient state to a Recipient* constant.
func (r *recip) publicState() string {
	switch r.State {
	case rPosted:
		return RecipientQueued
	case rDelivered:
		return RecipientDelivered
	case rRejected:
		return RecipientRejected
	case rFailed:
		return RecipientFailed
	}
	return RecipientPending
}

// offerMeta is sealed inside an Offer (and a mailbox offer blob).
type offerMeta struct {
	Type    string
	Name    string `json:",omitempty"`
	Size    int64
	Hash    []byte
	Key     []byte
	Preview []byte `json:",omitempty"`
	Blobs   int    `json:",omitempty"` // mailbox only: chunk blobs that follow
	// Taken is the capture time in unix seconds (0 or absent: unknown).
	// It is a field of the sealed JSON, not of the wire: older nodes
	// ignore it, and it costs no size class (sizes.go pads anyway).
	Taken int64 `json:",omitempty"`
}

// smallItem is the payload of a message or like envelope.
type smallItem struct {
	Type string
	Text string `json:",omitempty"`
	Ref  string `json:",omitempty"` // liked item
}

func newItemID() (string, [16]byte) {
	var id [16]byte
	_, _ = rand.Read(id[:])
	return hex.EncodeToString(id[:]), id
}

func parseItemID(s string) ([16]byte, error) {
	var id [16]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 16 {
		return id, ErrBadArgument
	}
	copy(id[:], b)
	return id, nil
}

// SharePhoto shares the photo at path with friendIDs. With no friendIDs the
// share policy picks the recipients (P7); in ask mode that is an error. The
// content is sealed once, into a pending copy in the data directory, and
// streamed to each friend; the original file is only read. It returns the
// item ID at once (after one store commit): hashing and sealing run in the
// background (EventSealing reports progress) and the first friend's
// transfer starts as soon as the hash is known, streaming chunks as they
// are sealed. The file must not change until sealing ends, else the item
// fails with FailSource. What is hashed, sealed and sent is the file with
// its location removed in place (node/scrub: same size; capture time and
// orientation kept); there is no opt-out (P3). The file itself is not
// changed.
func (n *Node) SharePhoto(path string, friendIDs []string) (string, error) {
	return n.shareFile(TypePhoto, path, friendIDs)
}

// ShareVideo is SharePhoto for videos; the file is streamed, never held in
// memory whole.
func (n *Node) ShareVideo(path string, friendIDs []string) (string, error) {
	return n.shareFile(TypeVideo, path, friendIDs)
}

func (n *Node) shareFile(typ, path string, friendIDs []string) (string, error) {
	if len(friendIDs) == 0 {
		if p := n.sharePolicy(); p.Mode == ShareTogether {
			// The file's modification time stands in for the capture time.
			st, err := statShareable(path)
			if err != nil {
				return "", err
			}
			return n.shareTogether(typ, path, st.ModTime().Unix(), p.Auto)
		}
	}
	return n.shareFileTaken(typ, path, 0, friendIDs)
}

// shareFileTaken is shareFile with a capture time (0: unknown).
func (n *Node) shareFileTaken(typ, path string, taken int64, friendIDs []string) (string, error) {
	to, err := n.recipients(friendIDs)
	if err != nil {
		return "", err
	}
	st, err := statShareable(path)
	if err != nil {
		return "", err
	}
	return n.shareSource(typ, filepath.Base(path), path, st.Size(), taken, to, fileSource(path), nil)
}

// statShareable checks that path is a regular file of at most MaxItemSize.
func statShareable(path string) (os.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("node: share: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("node: share: not a file: %w", ErrBadArgument)
	}
	if st.Size() > MaxItemSize {
		return nil, ErrTooLarge
	}
	return st, nil
}

func fileSource(path string) source {
	return func() (io.ReadCloser, error) { return os.Open(path) }
}

// ShareBytes shares content held in memory (a photo or video the app has
// as bytes; at most MaxShareBytes) with friendIDs, like SharePhoto. name
// is a file name hint for its extension; typ is TypePhoto or TypeVideo.
// The bytes are copied, so the caller may reuse data at once. If the node
// stops before they are sealed, the item fails with FailSource. The
// location is removed as for SharePhoto.
func (n *Node) ShareBytes(typ, name string, data []byte, friendIDs []string) (string, error) {
	if typ != TypePhoto && typ != TypeVideo {
		return "", fmt.Errorf("node: share: type %q: %w", typ, ErrBadArgument)
	}
	if len(data) > MaxShareBytes {
		return "", ErrTooLarge
	}
	to, err := n.recipients(friendIDs)
	if err != nil {
		return "", err
	}
	b := bytes.Clone(data)
	return n.shareSource(typ, filepath.Base(name), "", int64(len(b)), 0, to, func() (io.ReadCloser, error) {
		return memSource{bytes.NewReader(b)}, nil
	}, nil)
}

// shareSource stores the outbox record of a new photo or video (Sealing
// set, no hash yet: not deliverable) and starts its sealing job. It
// blocks for one store commit only; also, if set, writes in that same
// commit (the together shares record there that the item exists, so a
// crash cannot leave one without the other).
func (n *Node) shareSource(typ, name, path string, size, taken int64, to []string, src source, also func(tx *localstore.Tx, itemID string) error) (string, error) {
	key, err := crypto.NewStreamKey(rand.Reader, 0)
	if err != nil {
		return "", err
	}
	key.Version = n.streamVersion(to)
	id, _ := newItemID()
	kb, _ := key.MarshalBinary()
	it := &outItem{ID: id, Type: typ, Name: name, Path: path, Sealed: filepath.Join(n.outdir, id+".sealed"),
		Sealing: true, Size: size, Key: kb, Created: n.cfg.Now().Unix(), Taken: taken, To: map[string]*recip{}}
	for _, f := range to {
		it.To[f] = &recip{State: rPending}
	}
	err = n.store.Update(func(tx *localstore.Tx) error {
		if err := tx.Put(localstore.Outbox, it.ID, encodeOut(it)); err != nil {
			return err
		}
		if also != nil {
			return also(tx, it.ID)
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("node: outbox: %w", err)
	}
	n.startSealing(it, src)
	return id, nil
}

// SendMessage sends a text message to one friend.
func (n *Node) SendMessage(friendID, text string) (string, error) {
	if text == "" || len(text) > MaxMessageLen || !utf8.ValidString(text) {
		return "", fmt.Errorf("node: message: %w", ErrBadArgument)
	}
	return n.sendSmall(friendID, TypeMessage, text)
}

// Like sends a like of itemID (an item the friend shared, or one shared to
// the friend) to friendID.
func (n *Node) Like(friendID, itemID string) (string, error) {
	if _, err := parseItemID(itemID); err != nil {
		return "", err
	}
	return n.sendSmall(friendID, TypeLike, itemID)
}

func (n *Node) sendSmall(friendID, typ, text string) (string, error) {
	if _, err := n.friend(friendID); err != nil {
		return "", err
	}
	id, _ := newItemID()
	it := &outItem{ID: id, Type: typ, Text: text, Created: n.cfg.Now().Unix(),
		To: map[string]*recip{friendID: {State: rPending}}}
	if err := n.putOut(it); err != nil {
		return "", err
	}
	n.wake()
	return id, nil
}

func encodeOut(it *outItem) []byte {
	b, _ := json.Marshal(it)
	return b
}

func decodeOut(b []byte) (*outItem, error) {
	var it outItem
	if err := json.Unmarshal(b, &it); err != nil {
		return nil, fmt.Errorf("node: outbox record: %w", err)
	}
	return &it, nil
}

func (n *Node) putOut(it *outItem) error {
	if err := n.store.Put(localstore.Outbox, it.ID, encodeOut(it)); err != nil {
		return fmt.Errorf("node: outbox: %w", err)
	}
	return nil
}

func (n *Node) getOut(id string) (*outItem, error) {
	b, err := n.store.Get(localstore.Outbox, id)
	if errors.Is(err, localstore.ErrNotFound) {
		return nil, ErrUnknownItem
	}
	if err != nil {
		return nil, err
	}
	return decodeOut(b)
}

// updateRecip changes one recipient's state of an outbox item atomically
// and drops the pending copy once nobody waits for it (P11).
func (n *Node) updateRecip(itemID, friendID string, fn func(it *outItem, r *recip)) error {
	return n.updateRecipThen(itemID, friendID, fn, nil)
}

// updateRecipThen is updateRecip calling then (if not nil) once the change
// is committed and before the pending copy is unlinked. A delivery tells
// the app there: unlinking an 8 MiB copy whose pages are still in the page
// cache took 1.1 ms, 5 % of a direct 8 MiB share, and the copy goes
// right after in the same goroutine either way (docs/BENCH.md).
func (n *Node) updateRecipThen(itemID, friendID string, fn func(it *outItem, r *recip), then func()) error {
	var drop string
	err := n.store.Update(func(tx *localstore.Tx) error {
		b, err := tx.Get(localstore.Outbox, itemID)
		if err != nil {
			return err
		}
		it, err := decodeOut(b)
		if err != nil {
			return err
		}
		r := it.To[friendID]
		if r == nil {
			return ErrUnknownItem
		}
		fn(it, r)
		if it.done() {
			drop = it.Sealed
			return tx.Delete(localstore.Outbox, itemID)
		}
		return tx.Put(localstore.Outbox, itemID, encodeOut(it))
	})
	if err == nil && then != nil {
		then()
	}
	if drop != "" {
		n.endItem(itemID)
		os.Remove(drop)
	}
	return err
}

// done reports whether no recipient still needs the item.
func (it *outItem) done() bool {
	for _, r := range it.To {
		if r.State == rPending || r.State == rPosted {
			return false
		}
	}
	return true
}

// dropRecipient removes an unfriended friend from every outbox item.
func (n *Node) dropRecipient(friendID string) {
	var ids []string
	_ = n.store.ForEach(localstore.Outbox, func(v []byte) error {
		var it outItem
		if json.Unmarshal(v, &it) == nil && it.To[friendID] != nil {
			ids = append(ids, it.ID)
		}
		return nil
	})
	for _, id := range ids {
		_ = n.updateRecip(id, friendID, func(it *outItem, r *recip) { r.State = rFailed })
	}
}

// recipients applies the sender policy: explicit friends, else the policy.
func (n *Node) recipients(friendIDs []string) ([]string, error) {
	if len(friendIDs) > MaxRecipients {
		return nil, ErrTooLarge
	}
	if len(friendIDs) > 0 {
		seen := map[string]bool{}
		var out []string
		for _, id := range friendIDs {
			if _, err := n.friend(id); err != nil {
				return nil, err
			}
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
		return out, nil
	}
	p := n.sharePolicy()
	now := n.cfg.Now()
	switch p.Mode {
	case ShareNearby:
	case SharePlaces:
		if !n.inPlace(p.Places) {
			return nil, ErrNoRecipients
		}
	case ShareWindows:
		if !n.inShareWindow(p.Windows, now) {
			return nil, ErrNoRecipients
		}
	default:
		return nil, ErrNoRecipients
	}
	var out []string
	n.mu.Lock()
	for id, f := range n.friends {
		if now.Before(f.nearbyUntil) {
			out = append(out, id)
		}
	}
	n.mu.Unlock()
	if len(out) == 0 {
		return nil, ErrNoRecipients
	}
	return out, nil
}

// inShareWindow reports whether t, read in the device's local zone
// (zone), falls inside one of ws: a window "22:00–02:00" means the
// user's evening, not UTC's.
func (n *Node) inShareWindow(ws []Window, t time.Time) bool {
	return inWindow(ws, t.In(n.zone()))
}

// inWindow reports whether now, read in the zone it carries, falls inside
// one of ws.
func inWindow(ws []Window, now time.Time) bool {
	m := now.Hour()*60 + now.Minute()
	for _, w := range ws {
		if w.StartMinute <= w.EndMinute && m >= w.StartMinute && m < w.EndMinute {
			return true
		}
		if w.StartMinute > w.EndMinute && (m >= w.StartMinute || m < w.EndMinute) {
			return true
		}
	}
	return false
}

// SetSharePolicy sets the sender policy for shares without recipients.
func (n *Node) SetSharePolicy(p SharePolicy) error {
	switch p.Mode {
	case ShareAsk, ShareNearby, SharePlaces, ShareWindows, ShareTogether:
	default:
		return ErrBadArgument
	}
	for _, w := range p.Windows {
		if w.StartMinute < 0 || w.StartMinute >= 1440 || w.EndMinute < 0 || w.EndMinute > 1440 {
			return ErrBadArgument
		}
	}
	b, _ := json.Marshal(p)
	return n.store.Put(localstore.Settings, "share-policy", b)
}

func (n *Node) sharePolicy() SharePolicy {
	p := SharePolicy{Mode: ShareAsk}
	if b, err := n.store.Get(localstore.Settings, "share-policy"); err == nil {
		_ = json.Unmarshal(b, &p)
	}
	return p
}

// Pending returns the outbox: items not yet delivered to every recipient.
func (n *Node) Pending() []Item {
	var out []Item
	_ = n.store.ForEach(localstore.Outbox, func(v []byte) error {
		var it outItem
		if json.Unmarshal(v, &it) != nil {
			return nil
		}
		if internalType(it.Type) {
			return nil // internal: a profile or late-meeting item travelling to a friend
		}
		item := Item{ID: it.ID, Type: it.Type, Text: it.Text, Path: it.Path, Size: it.Size, State: StatePending, Created: it.Created, Taken: it.Taken}
		for f := range it.To {
			item.To = append(item.To, f)
		}
		sort.Strings(item.To)
		for _, f := range item.To {
			r := it.To[f]
			rs := RecipientState{FriendID: f, State: r.publicState(), Attempts: r.Attempts}
			if r.State == rPending {
				rs.NextTry = r.NextTry
			}
			item.Recipients = append(item.Recipients, rs)
		}
		if len(item.To) > 0 {
			item.FriendID = item.To[0]
		}
		out = append(out, item)
		return nil
	})
	return out
}

// safeExt returns a short lowercase alphanumeric extension of name, or "".
func safeExt(name string) string {
	ext := strings.ToLower(filepath.Ext(name))
	if len(ext) < 2 || len(ext) > 6 {
		return ""
	}
	for _, c := range ext[1:] {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return ""
		}
	}
	return ext
}
