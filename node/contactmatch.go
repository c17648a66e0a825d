package node

// Contact matching (DESIGN.md flow 1, P5/P6; docs/CRYPTO.md "Contact
// matching"). This file owns the node side: own handles, the pair records
// of the last sync, link proposals (matches) and their acceptance. The wire
// client and handle parsing are node/contacts; the cryptography is
// crypto/contact.go.
//
// A sync turns every (own handle, contact handle) pair into the chain
// output x_n (blinded OPRF stages at the network's relays), parks a sealed
// offer (this device's card, relay hints, optional profile) under the
// output's entry ID at a directory relay, and learns the offers other
// posters left under the same IDs: a mutual pair. The user accepts or
// rejects the proposal; acceptance posts a second entry (accept_id), and
// when both sides have posted there each derives the pair keys from its own
// identity, the other's card and the link secret, as an invite link does.
// Nothing identifying leaves the device: handles, numbers and the
// address-book names stay in the encrypted store.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/node/contacts"
	"github.com/imigee/imigee/node/localstore"
	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// EventContactMatch: a contact holds this user's handle and this user holds
// theirs; Event.ItemID is the match ID (for AcceptMatch/RejectMatch),
// Event.Text the contact's name and Event.Handle the handle as the local
// address book knows them (neither was sent anywhere), Event.FriendID the
// other device's anonymous ID.
const EventContactMatch = "contact_match"

// States of a ContactMatch.
const (
	MatchProposed = "proposed" // both hold each other; this user has not answered
	MatchAccepted = "accepted" // this user accepted; waiting for the other
	MatchLinked   = "linked"   // both accepted: the friend is stored
	MatchRejected = "rejected" // this user declined; the entry is withdrawn
)

// Contact-matching errors callers branch on.
var (
	// ErrNoHandles: SyncContacts before SetHandles.
	ErrNoHandles = errors.New("node: no own handle set (SetHandles)")
	// ErrNoMatch: AcceptMatch/RejectMatch with an unknown match ID.
	ErrNoMatch = errors.New("node: no such contact match")
	// ErrContactRelays: no relay to evaluate or keep contact entries.
	ErrContactRelays = errors.New("node: no contact-matching relay configured or connected")
)

// Limits of contact matching on the device.
const (
	// MaxOwnHandles caps SetHandles: 8.
	MaxOwnHandles = 8
	// MaxContactPairs caps own handles × contact handles of one sync:
	// 20,000 (10,000 contacts with two handles, or 5,000 × 4).
	MaxContactPairs = 20_000
	// ContactTimeout bounds each request to a contact relay: 60 s (a
	// batch's proof of work runs before it is sent, so it is not counted).
	ContactTimeout = 60 * time.Second
	// MaxProfileName and MaxProfileAbout cap SetProfile's fields.
	MaxProfileName, MaxProfileAbout = 64, 280
)

// Contact is one address-book entry (contacts.Contact): the name the user
// knows the person by and the person's handles.
type Contact = contacts.Contact

// ContactsConfig configures contact matching. Zero values work on a
// single-relay network: the first of Config.Relays evaluates (its key is
// pinned at first use) and keeps the entries. A production network lists
// its chain and directory explicitly.
type ContactsConfig struct {
	// Region is the default country for numbers without "+", as an ISO
	// 3166 code ("FR"). Empty = every number must carry its country code.
	Region string
	// Chain is the network's OPRF chain, in order: the relay (multiaddr
	// with /p2p/ID) evaluating each stage and its published public key.
	// Give at least two relays of different operators: one relay holding
	// every key can test guessed numbers.
	Chain []ContactStage
	// Directory lists the relays that keep pending entries (multiaddrs);
	// an entry goes to Directory[entry_id[0] mod len]. Empty = Relays.
	Directory []string
	// AutoAccept accepts every proposal as it arrives.
	AutoAccept bool
}

// ContactStage is one stage of the chain.
type ContactStage struct {
	Relay     string
	PublicKey []byte // 32 bytes; nil = pin what the relay announces first
}

// ContactMatch is one link proposal.
type ContactMatch struct {
	ID       string
	Name     string // the contact's name in the local address book
	Handle   string // the contact's handle as the local address book has it
	FriendID string // the other device's anonymous ID
	Profile  string `json:",omitempty"` // the display name the other side chose, if any
	State    string
}

// ContactSyncResult says what a sync did (counts only).
type ContactSyncResult struct {
	Contacts, Pairs, Evaluated, Posted, Withdrawn, NewMatches, Linked int
	// BytesUp and BytesDown count the contact-protocol stream bytes of
	// this sync (not transport overhead).
	BytesUp, BytesDown int64
}

// pairRecord is one (own handle, contact handle) pair of the last sync.
type pairRecord struct {
	Key      string // store name: "pair:" + hex(SHA-256(pair input))[:32]
	Own      string
	Handle   string
	Name     string
	Output   []byte // x_n
	Rejected bool   `json:",omitempty"`
}

// matchRecord is one proposal, with what linking needs.
type matchRecord struct {
	ContactMatch
	Pair   string // pairRecord.Key
	Output []byte
	Card   []byte
	Relays []string `json:",omitempty"`
}

// contactOffer is the plaintext of a sealed offer.
type contactOffer struct {
	Card    []byte
	Relays  []string `json:",omitempty"`
	Name    string   `json:",omitempty"`
	About   string   `json:",omitempty"`
	Accepts bool     `json:",omitempty"` // set in accept-entry offers
}

// profile is this user's profile (profile.go sends it to friends).
type profile struct {
	Name, About string
	Picture     []byte `json:",omitempty"`
}

const (
	settingHandles       = "contact-handles"
	settingContactSecret = "contact-secret"
	settingProfile       = "profile"
	settingPinPrefix     = "contact-key:"
	pairPrefix           = "pair:"
	matchPrefix          = "match:"
)

// SetHandles sets the handles this user claims (a phone number as
// "tel:+33…" or in national form with ContactsConfig.Region, and handles
// such as "x:@name", "mastodon:@name@host", "email:a@b"). They are stored
// on the device only. The next SyncContacts withdraws the entries of
// handles no longer claimed.
func (n *Node) SetHandles(handles []string) error {
	if len(handles) > MaxOwnHandles {
		return fmt.Errorf("node: %d handles (max %d): %w", len(handles), MaxOwnHandles, contacts.ErrBadHandle)
	}
	var out []string
	for _, h := range handles {
		c, err := contacts.Normalize(h, n.cfg.Contacts.Region)
		if err != nil {
			return err
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return n.putJSON(localstore.Settings, settingHandles, out)
}

// Handles returns the normalised handles this user claims.
func (n *Node) Handles() ([]string, error) {
	out := []string{}
	err := n.getJSON(localstore.Settings, settingHandles, &out)
	return out, err
}

// SetProfile sets the display name and short description: sealed into
// this device's contact offers (only a matched contact opens them) and
// sent end to end to every friend when it changes (profile.go).
func (n *Node) SetProfile(name, about string) error {
	if len(name) > MaxProfileName || len(about) > MaxProfileAbout {
		return fmt.Errorf("node: profile over %d/%d bytes: %w", MaxProfileName, MaxProfileAbout, ErrTooLarge)
	}
	var pr profile
	if err := n.getJSON(localstore.Settings, settingProfile, &pr); err != nil {
		return err
	}
	pr.Name, pr.About = name, about
	return n.updateProfile(pr)
}

// SyncContacts matches the given address book (all of it: contacts left
// out are withdrawn) against the network. Only pairs new since the last
// sync are evaluated; every current pair is posted again (free when
// already stored) to learn of the other side. An empty list withdraws
// everything (contacts permission revoked). It blocks for the network
// round trips and the proofs of work: a few seconds for 1,000 contacts.
func (n *Node) SyncContacts(ctx context.Context, book []Contact) (res ContactSyncResult, err error) {
	bc := &byteCount{}
	ctx = context.WithValue(ctx, byteCountKey{}, bc)
	defer func() { res.BytesUp, res.BytesDown = bc.up, bc.down }()
	own, err := n.Handles()
	if err != nil {
		return res, err
	}
	if len(own) == 0 && len(book) > 0 {
		return res, ErrNoHandles
	}
	want, err := n.wantedPairs(own, book)
	if err != nil {
		return res, err
	}
	res.Contacts, res.Pairs = len(book), len(want)
	have, err := n.loadPairs()
	if err != nil {
		return res, err
	}
	var gone []pairRecord
	for k, p := range have {
		if _, ok := want[k]; !ok {
			gone = append(gone, p)
		}
	}
	if res.Withdrawn, err = n.withdrawPairs(ctx, gone); err != nil {
		return res, err
	}
	var fresh []pairRecord
	for k, p := range want {
		if old, ok := have[k]; ok {
			old.Name = p.Name // the address book may rename
			want[k] = old
			continue
		}
		fresh = append(fresh, p)
	}
	slices.SortFunc(fresh, func(a, b pairRecord) int { return cmpString(a.Key, b.Key) })
	if err := n.evaluatePairs(ctx, fresh); err != nil {
		return res, err
	}
	res.Evaluated = len(fresh)
	for _, p := range fresh {
		want[p.Key] = p
	}
	posted, matches, linked, err := n.postPairs(ctx, want)
	res.Posted, res.NewMatches, res.Linked = posted, matches, linked
	return res, err
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// wantedPairs builds the pair records of own handles × the book.
func (n *Node) wantedPairs(own []string, book []Contact) (map[string]pairRecord, error) {
	want := map[string]pairRecord{}
	for _, c := range book {
		for _, raw := range c.Handles {
			h, err := contacts.Normalize(raw, n.cfg.Contacts.Region)
			if err != nil {
				continue // an unusable number in the book is not an error
			}
			for _, a := range own {
				if a == h {
					continue
				}
				x0, err := crypto.ContactPairInput(a, h)
				if err != nil {
					continue
				}
				sum := sha256.Sum256(x0)
				k := pairPrefix + hex.EncodeToString(sum[:16])
				if _, dup := want[k]; dup {
					continue
				}
				if len(want) >= MaxContactPairs {
					return nil, fmt.Errorf("node: more than %d contact pairs: %w", MaxContactPairs, ErrTooLarge)
				}
				want[k] = pairRecord{Key: k, Own: a, Handle: h, Name: c.Name}
			}
		}
	}
	return want, nil
}

func (n *Node) loadPairs() (map[string]pairRecord, error) {
	have := map[string]pairRecord{}
	err := n.store.ForEach(localstore.Contacts, func(v []byte) error {
		var p pairRecord
		if json.Unmarshal(v, &p) == nil && len(p.Key) > len(pairPrefix) && p.Key[:len(pairPrefix)] == pairPrefix {
			have[p.Key] = p
		}
		return nil
	})
	return have, err
}

// loadPair reads one pair record by key (the zero record when there is
// none), without loadPairs' scan of the whole bucket.
func (n *Node) loadPair(key string) (pairRecord, error) {
	var p pairRecord
	if err := n.getJSON(localstore.Contacts, key, &p); err != nil {
		return pairRecord{}, err
	}
	if p.Key != key {
		return pairRecord{}, nil
	}
	return p, nil
}

func (n *Node) loadMatches() ([]matchRecord, error) {
	var out []matchRecord
	err := n.store.ForEach(localstore.Contacts, func(v []byte) error {
		var m matchRecord
		if json.Unmarshal(v, &m) == nil && m.ID != "" && m.Pair != "" {
			out = append(out, m)
		}
		return nil
	})
	slices.SortFunc(out, func(a, b matchRecord) int { return cmpString(a.ID, b.ID) })
	return out, err
}

// ContactMatches lists the proposals, in ID order ([] when none).
func (n *Node) ContactMatches() ([]ContactMatch, error) {
	ms, err := n.loadMatches()
	out := make([]ContactMatch, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.ContactMatch)
	}
	return out, err
}

// contactClient dials a contact relay on a one-off transport identity
// (P12, ephemeral.go: contact entries are not tied to the announce or
// mailbox identities) and returns a client and a closer that closes it
// and adds the client's bytes to the context's byteCount, if any.
func (n *Node) contactClient(ctx context.Context, ai peer.AddrInfo) (*contacts.Client, func(), error) {
	if _, err := n.host(); err != nil {
		return nil, nil, err
	}
	h, err := n.clientHost()
	if err != nil {
		return nil, nil, err
	}
	n.tstats.oneOffs.Add(1)
	s, err := n.openStream(ctx, h, ai, protocol.ContactsProtocol)
	if err != nil {
		h.Close()
		return nil, nil, fmt.Errorf("node: contacts relay: %w", err)
	}
	cl := contacts.NewClient(s, ContactTimeout)
	return cl, func() {
		_ = s.Close()
		h.Close()
		if bc, ok := ctx.Value(byteCountKey{}).(*byteCount); ok {
			up, down := cl.Bytes()
			bc.up += up
			bc.down += down
		}
	}, nil
}

// byteCount sums a sync's stream bytes (one sync runs on one goroutine).
type byteCount struct{ up, down int64 }
type byteCountKey struct{}

// chain resolves the configured chain, or the first own relay with its
// pinned key.
func (n *Node) contactChain() ([]peer.AddrInfo, [][]byte, error) {
	var ais []peer.AddrInfo
	var keys [][]byte
	for _, st := range n.cfg.Contacts.Chain {
		ai, err := peer.AddrInfoFromString(st.Relay)
		if err != nil {
			return nil, nil, fmt.Errorf("node: contacts chain relay %q: %w", st.Relay, err)
		}
		ais, keys = append(ais, *ai), append(keys, st.PublicKey)
	}
	if len(ais) == 0 {
		n.mu.Lock()
		relays := append([]peer.AddrInfo(nil), n.relays...)
		n.mu.Unlock()
		if len(relays) == 0 {
			return nil, nil, ErrContactRelays
		}
		ais, keys = relays[:1], [][]byte{nil}
	}
	for i, ai := range ais {
		if keys[i] == nil {
			var pinned []byte
			if err := n.getJSON(localstore.Settings, settingPinPrefix+ai.ID.String(), &pinned); err != nil {
				return nil, nil, err
			}
			keys[i] = pinned
		}
	}
	return ais, keys, nil
}

func (n *Node) contactDirectory() ([]peer.AddrInfo, error) {
	if len(n.cfg.Contacts.Directory) > 0 {
		return hintsToAddrInfos(n.cfg.Contacts.Directory), nil
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.relays) == 0 {
		return nil, ErrContactRelays
	}
	return append([]peer.AddrInfo(nil), n.relays...), nil
}

// evaluatePairs runs the chain over the fresh pairs and stores each with
// its output.
func (n *Node) evaluatePairs(ctx context.Context, fresh []pairRecord) error {
	if len(fresh) == 0 {
		return nil
	}
	ais, keys, err := n.contactChain()
	if err != nil {
		return err
	}
	cur := make([][]byte, len(fresh))
	for i, p := range fresh {
		if cur[i], err = crypto.ContactPairInput(p.Own, p.Handle); err != nil {
			return err
		}
	}
	for i, ai := range ais {
		cl, done, err := n.contactClient(ctx, ai)
		if err != nil {
			return err
		}
		out, key, err := cl.Evaluate(keys[i], cur, rand.Reader)
		done()
		if err != nil {
			return fmt.Errorf("node: contact stage %d: %w", i+1, err)
		}
		if keys[i] == nil {
			if err := n.putJSON(localstore.Settings, settingPinPrefix+ai.ID.String(), key); err != nil {
				return err
			}
		}
		cur = out
	}
	for i := range fresh {
		fresh[i].Output = cur[i]
		if err := n.putJSON(localstore.Contacts, fresh[i].Key, fresh[i]); err != nil {
			return err
		}
	}
	return nil
}

func (n *Node) contactSecret() ([]byte, error) {
	var s []byte
	if err := n.getJSON(localstore.Settings, settingContactSecret, &s); err != nil {
		return nil, err
	}
	if len(s) == 32 {
		return s, nil
	}
	s = make([]byte, 32)
	if _, err := rand.Read(s); err != nil {
		return nil, err
	}
	return s, n.putJSON(localstore.Settings, settingContactSecret, s)
}

// ownOffers are this device's offer plaintexts: the proposal and the
// accept offer (the same card, relays and profile, read once).
func (n *Node) ownOffers() (offer, accept []byte, err error) {
	card, _ := n.id.Card().MarshalBinary()
	var pr profile
	if err := n.getJSON(localstore.Settings, settingProfile, &pr); err != nil {
		return nil, nil, err
	}
	hints := n.ownRelayHints()
	build := func(accepts bool) ([]byte, error) {
		hints := hints
		for {
			b, err := json.Marshal(contactOffer{Card: card, Relays: hints, Name: pr.Name, About: pr.About, Accepts: accepts})
			if err != nil {
				return nil, err
			}
			if len(b) <= crypto.ContactOfferSize-2 || len(hints) == 0 {
				return b, nil
			}
			hints = hints[:len(hints)-1]
		}
	}
	if offer, err = build(false); err != nil {
		return nil, nil, err
	}
	accept, err = build(true)
	return offer, accept, err
}

// entryFor seals an offer under an entry.
func entryFor(id, key [32]byte, plain []byte, secret []byte) (*pb.ContactEntry, error) {
	sealed, err := crypto.SealContactOffer(&key, plain, rand.Reader)
	if err != nil {
		return nil, err
	}
	wh := crypto.ContactWithdrawHash(crypto.ContactWithdrawSecret(secret, id))
	return &pb.ContactEntry{EntryId: id[:], SealedOffer: sealed, WithdrawHash: wh[:]}, nil
}

// posting groups entries by directory relay.
type posting struct {
	dir     []peer.AddrInfo
	byRelay map[int][]*pb.ContactEntry
	pairOf  map[[32]byte]string // entry ID → pair key
	accept  map[[32]byte]string // accept entry ID → match ID
}

func (p *posting) add(id [32]byte, e *pb.ContactEntry) {
	i := int(id[0]) % len(p.dir)
	p.byRelay[i] = append(p.byRelay[i], e)
}

// postPairs posts every current pair's entry and the accept entries of
// accepted proposals, and handles what comes back.
func (n *Node) postPairs(ctx context.Context, want map[string]pairRecord) (posted, newMatches, linked int, err error) {
	if len(want) == 0 {
		return 0, 0, 0, nil
	}
	dir, err := n.contactDirectory()
	if err != nil {
		return 0, 0, 0, err
	}
	secret, err := n.contactSecret()
	if err != nil {
		return 0, 0, 0, err
	}
	offer, acceptOffer, err := n.ownOffers()
	if err != nil {
		return 0, 0, 0, err
	}
	p := &posting{dir: dir, byRelay: map[int][]*pb.ContactEntry{}, pairOf: map[[32]byte]string{}, accept: map[[32]byte]string{}}
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		pr := want[k]
		if pr.Rejected || len(pr.Output) == 0 {
			continue
		}
		id, key, err := crypto.ContactEntryKeys(pr.Output)
		if err != nil {
			return 0, 0, 0, err
		}
		e, err := entryFor(id, key, offer, secret)
		if err != nil {
			return 0, 0, 0, err
		}
		p.add(id, e)
		p.pairOf[id] = k
	}
	ms, err := n.loadMatches()
	if err != nil {
		return 0, 0, 0, err
	}
	for _, m := range ms {
		if m.State != MatchAccepted {
			continue
		}
		_, aid, akey, err := crypto.ContactLinkKeys(m.Output)
		if err != nil {
			continue
		}
		e, err := entryFor(aid, akey, acceptOffer, secret)
		if err != nil {
			return 0, 0, 0, err
		}
		p.add(aid, e)
		p.accept[aid] = m.ID
	}
	for i := 0; i < len(dir); i++ {
		es := p.byRelay[i]
		if len(es) == 0 {
			continue
		}
		cl, done, err := n.contactClient(ctx, dir[i])
		if err != nil {
			return posted, newMatches, linked, err
		}
		got, err := cl.Post(es)
		done()
		if err != nil {
			return posted, newMatches, linked, fmt.Errorf("node: contact post: %w", err)
		}
		posted += len(es)
		for _, m := range got {
			id := [32]byte(m.EntryId)
			if mid, ok := p.accept[id]; ok {
				if n.otherAccepted(mid, m.SealedOffer) {
					linked++
				}
				continue
			}
			if k, ok := p.pairOf[id]; ok && n.newProposal(want[k], m.SealedOffer) {
				newMatches++
			}
		}
	}
	return posted, newMatches, linked, nil
}

// newProposal opens another poster's offer under a pair's entry and records
// a proposal; false if it is not new (or not readable, or this device).
func (n *Node) newProposal(pr pairRecord, sealed []byte) bool {
	_, key, err := crypto.ContactEntryKeys(pr.Output)
	if err != nil {
		return false
	}
	plain, err := crypto.OpenContactOffer(&key, sealed)
	if err != nil {
		return false
	}
	var o contactOffer
	if json.Unmarshal(plain, &o) != nil || o.Accepts {
		return false
	}
	card, err := crypto.ParseCard(o.Card)
	if err != nil {
		return false
	}
	fid := card.Fingerprint()
	if fid == n.id.Card().Fingerprint() {
		return false
	}
	sum := sha256.Sum256(append(append([]byte{}, pr.Output...), o.Card...))
	mid := hex.EncodeToString(sum[:8])
	var old matchRecord
	if err := n.getJSON(localstore.Contacts, matchPrefix+mid, &old); err != nil || old.ID != "" {
		return false
	}
	m := matchRecord{
		ContactMatch: ContactMatch{ID: mid, Name: pr.Name, Handle: pr.Handle, FriendID: fid, Profile: o.Name, State: MatchProposed},
		Pair:         pr.Key, Output: pr.Output, Card: o.Card, Relays: cleanRelayHints(o.Relays),
	}
	if err := n.putJSON(localstore.Contacts, matchPrefix+mid, m); err != nil {
		return false
	}
	n.emit(&Event{Kind: EventContactMatch, ItemID: mid, FriendID: fid, Text: pr.Name, Handle: pr.Handle})
	if n.cfg.Contacts.AutoAccept {
		n.spawn(func(ctx context.Context) { _, _ = n.AcceptMatch(ctx, mid) })
	}
	return true
}

// otherAccepted links an accepted proposal whose other side accepted too:
// the accept offer must open under the pair's accept key and carry the
// same card as the proposal.
func (n *Node) otherAccepted(mid string, sealed []byte) bool {
	var m matchRecord
	if err := n.getJSON(localstore.Contacts, matchPrefix+mid, &m); err != nil || m.State != MatchAccepted {
		return false
	}
	secret, _, akey, err := crypto.ContactLinkKeys(m.Output)
	if err != nil {
		return false
	}
	plain, err := crypto.OpenContactOffer(&akey, sealed)
	if err != nil {
		return false
	}
	var o contactOffer
	if json.Unmarshal(plain, &o) != nil || !o.Accepts || string(o.Card) != string(m.Card) {
		return false
	}
	card, err := crypto.ParseCard(m.Card)
	if err != nil {
		return false
	}
	f, err := n.addFriend(card, secret[:])
	if err != nil {
		n.log.Warn("contact match: storing the friend failed", "err", err)
		return false
	}
	n.noteRelays(f, m.Relays)
	m.State = MatchLinked
	if err := n.putJSON(localstore.Contacts, matchPrefix+mid, m); err != nil {
		return false
	}
	n.emit(&Event{Kind: EventFriendLinked, FriendID: f.id})
	return true
}

// AcceptMatch accepts a proposal: it posts this side's accept entry and, if
// the other side accepted already, stores the friend (friend_linked) and
// returns MatchLinked; otherwise MatchAccepted, and the link completes at a
// later SyncContacts once the other side accepts.
func (n *Node) AcceptMatch(ctx context.Context, id string) (string, error) {
	var m matchRecord
	if err := n.getJSON(localstore.Contacts, matchPrefix+id, &m); err != nil {
		return "", err
	}
	switch m.State {
	case "":
		return "", ErrNoMatch
	case MatchLinked:
		return MatchLinked, nil
	}
	m.State = MatchAccepted
	if err := n.putJSON(localstore.Contacts, matchPrefix+id, m); err != nil {
		return "", err
	}
	pr, err := n.loadPair(m.Pair)
	if err != nil {
		return "", err
	}
	if pr.Rejected {
		pr.Rejected = false
		_ = n.putJSON(localstore.Contacts, pr.Key, pr)
	}
	// Post only this proposal's accept entry (postPairs posts every
	// accepted one; the others are cheap re-posts).
	if _, _, linked, err := n.postPairs(ctx, map[string]pairRecord{m.Pair: pr}); err != nil {
		return MatchAccepted, err
	} else if linked > 0 {
		return MatchLinked, nil
	}
	return MatchAccepted, nil
}

// RejectMatch declines a proposal: the pair's entry is withdrawn and no
// longer posted, so the other side hears nothing more.
func (n *Node) RejectMatch(ctx context.Context, id string) error {
	var m matchRecord
	if err := n.getJSON(localstore.Contacts, matchPrefix+id, &m); err != nil {
		return err
	}
	if m.State == "" {
		return ErrNoMatch
	}
	m.State = MatchRejected
	if err := n.putJSON(localstore.Contacts, matchPrefix+id, m); err != nil {
		return err
	}
	pr, err := n.loadPair(m.Pair)
	if err != nil || pr.Key == "" {
		return err
	}
	pr.Rejected = true
	if err := n.putJSON(localstore.Contacts, pr.Key, pr); err != nil {
		return err
	}
	_, err = n.withdrawEntries(ctx, []pairRecord{pr}, false)
	return err
}

// withdrawPairs withdraws the pairs' entries (and accept entries) and
// deletes their records and proposals.
func (n *Node) withdrawPairs(ctx context.Context, gone []pairRecord) (int, error) {
	if len(gone) == 0 {
		return 0, nil
	}
	w, err := n.withdrawEntries(ctx, gone, true)
	if err != nil {
		return w, err
	}
	keys := map[string]bool{}
	for _, p := range gone {
		keys[p.Key] = true
		if err := n.store.Delete(localstore.Contacts, p.Key); err != nil {
			return w, err
		}
	}
	ms, err := n.loadMatches()
	if err != nil {
		return w, err
	}
	for _, m := range ms {
		if keys[m.Pair] && m.State != MatchLinked {
			_ = n.store.Delete(localstore.Contacts, matchPrefix+m.ID)
		}
	}
	return w, nil
}

// withdrawEntries asks the directory relays to drop the pairs' entries
// (and, with accepts, their accept entries).
func (n *Node) withdrawEntries(ctx context.Context, prs []pairRecord, accepts bool) (int, error) {
	dir, err := n.contactDirectory()
	if err != nil {
		return 0, err
	}
	secret, err := n.contactSecret()
	if err != nil {
		return 0, err
	}
	by := map[int][]*pb.ContactWithdrawal{}
	add := func(id [32]byte) {
		ws := crypto.ContactWithdrawSecret(secret, id)
		i := int(id[0]) % len(dir)
		by[i] = append(by[i], &pb.ContactWithdrawal{EntryId: id[:], WithdrawSecret: ws[:]})
	}
	for _, p := range prs {
		if len(p.Output) == 0 {
			continue
		}
		id, _, err := crypto.ContactEntryKeys(p.Output)
		if err != nil {
			continue
		}
		add(id)
		if accepts {
			_, aid, _, _ := crypto.ContactLinkKeys(p.Output)
			add(aid)
		}
	}
	total := 0
	for i, ws := range by {
		cl, done, err := n.contactClient(ctx, dir[i])
		if err != nil {
			return total, err
		}
		k, err := cl.Withdraw(ws)
		done()
		total += k
		if err != nil {
			return total, fmt.Errorf("node: contact withdraw: %w", err)
		}
	}
	return total, nil
}

// forgetContacts withdraws every entry this device posted (Forget, P8).
func (n *Node) forgetContacts(ctx context.Context) error {
	have, err := n.loadPairs()
	if err != nil || len(have) == 0 {
		return err
	}
	prs := make([]pairRecord, 0, len(have))
	for _, p := range have {
		prs = append(prs, p)
	}
	_, err = n.withdrawEntries(ctx, prs, true)
	return err
}
