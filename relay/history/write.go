package history

import (
	"bytes"
	"crypto/aes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/crypto"
)

// Store keeps a live (or gossiped) announcement; it matches nothing. It
// returns the token entries added (0 when the session had stored them all
// already) once they are committed. Over MaxBytes: ErrFull, nothing stored.
func (s *Store) Store(a *Announce) (int, error) {
	var added int
	err := s.batch(a, func(tx *bolt.Tx, w *writer) error {
		n, err := w.put(tx, a)
		added = n
		return err
	})
	if err != nil {
		return 0, err
	}
	return added, nil
}

// Late matches a late announcement against the stored entries of its epoch
// and stores it, in one transaction. It returns at most maxMatches matches,
// the number left out beyond them and the entries added. An epoch outside
// the window: ErrStale; over MaxBytes: ErrFull (no matches either: the
// announcement that paid for them was not kept). Nothing is stored on an
// error.
func (s *Store) Late(a *Announce, maxMatches int) (ms []Match, dropped, added int, err error) {
	if !s.InWindow(a.EpochSeconds, a.Epoch) {
		return nil, 0, 0, ErrStale
	}
	err = s.batch(a, func(tx *bolt.Tx, w *writer) error {
		ms, dropped, added = nil, 0, 0
		var err error
		if ms, dropped, err = w.match(tx, a, maxMatches); err != nil {
			return err
		}
		added, err = w.put(tx, a)
		return err
	})
	if err != nil {
		return nil, 0, 0, err
	}
	return ms, dropped, added, nil
}

// writer carries one write call's reservation and count deltas across the
// runs the committer may make of its function (reset starts each).
type writer struct {
	s        *Store
	reserved int64 // bytes added to s.bytes ahead of the commit
	d        counts
	// ep is the epoch this run opened, so Late's match and put share one
	// key lookup and the announcements either decrypted.
	ep *epoch
}

// reset undoes a previous run: its reservation, counts and the epoch it
// opened in a transaction since rolled back. The committer may run a write
// again, alone, after a failure in its group.
func (w *writer) reset() {
	w.s.bytes.Add(-w.reserved)
	w.reserved, w.d, w.ep = 0, counts{}, nil
}

// epoch opens id's epoch in tx (see Store.openEpoch) once per run.
func (w *writer) epoch(tx *bolt.Tx, id epochID, create bool) (*epoch, error) {
	if w.ep != nil && w.ep.id == id {
		return w.ep, nil
	}
	ep, err := w.s.openEpoch(tx, id, create)
	if err == nil && ep != nil {
		w.ep = ep
	}
	return ep, err
}

// batch runs fn in the next group commit and applies its counts after the
// commit. The committer may run fn again (alone) after a failure in its
// group, so each run starts by undoing the previous run's reservation.
func (s *Store) batch(a *Announce, fn func(*bolt.Tx, *writer) error) error {
	if err := checkAnnounce(a); err != nil {
		return err
	}
	w := &writer{s: s}
	err := s.submit(func(tx *bolt.Tx) error {
		w.reset()
		return fn(tx, w)
	})
	if err != nil {
		s.bytes.Add(-w.reserved)
		if errors.Is(err, bolt.ErrDatabaseNotOpen) {
			return ErrClosed
		}
		if errors.Is(err, ErrFull) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrClosed) {
			return err
		}
		return fmt.Errorf("history: write: %w", err)
	}
	s.bytes.Add(w.d.bytes)
	s.entries.Add(w.d.entries)
	return nil
}

// checkAnnounce rejects what the relay's protocol validation would have.
func checkAnnounce(a *Announce) error {
	switch {
	case a.EpochSeconds == 0:
		return fmt.Errorf("%w: zero epoch length", ErrInvalid)
	case len(a.Shared) > MaxRecord:
		return fmt.Errorf("%w: shared record of %d bytes", ErrInvalid, len(a.Shared))
	case len(a.ForgetTag) != 0 && len(a.ForgetTag) != TagSize:
		return fmt.Errorf("%w: forget tag of %d bytes", ErrInvalid, len(a.ForgetTag))
	case len(a.Announcements) == 0 || len(a.Announcements) > MaxAnnouncements:
		return fmt.Errorf("%w: %d announcements", ErrInvalid, len(a.Announcements))
	}
	for _, an := range a.Announcements {
		if len(an.Tokens) == 0 || len(an.Tokens) > MaxTokensPerRecord || len(an.Record) == 0 || len(an.Record) > MaxRecord {
			return fmt.Errorf("%w: announcement of %d tokens, %d record bytes", ErrInvalid, len(an.Tokens), len(an.Record))
		}
	}
	return nil
}

// epoch is one epoch bucket opened in a write transaction, with its key
// and the announcements opened so far (a body never changes once stored).
type epoch struct {
	name    []byte
	id      epochID
	key     *ekey
	a, o, f *bolt.Bucket
	s       *bolt.Bucket // session summaries (summary.go)
	opened  map[uint64]*opened
	scratch [2 * aes.BlockSize]byte
}

// hash is tokenHash under the epoch's key with bit 0 cleared: a stored
// entry is hash | kind (kindNear = 1), so a session's earlier entries
// can be compared with a new announcement's tokens, kinds included,
// without opening its values.
func (ep *epoch) hash(t [TokenSize]byte) uint64 { return ep.key.tokenHash(ep.scratch[:], t) &^ 1 }

// opened is one stored announcement, decrypted.
type opened struct {
	hashes []uint64 // its live match index entries
	body   body
}

// openEpoch opens an epoch's buckets and key; with create, it makes them
// (the key durably, before anything is sealed under it). Without create
// and without the bucket it returns nil.
func (s *Store) openEpoch(tx *bolt.Tx, id epochID, create bool) (*epoch, error) {
	ep := &epoch{name: epochName(id.seconds, id.epoch), id: id}
	b := tx.Bucket(ep.name)
	if b == nil {
		if !create {
			return nil, nil
		}
		var err error
		if b, err = tx.CreateBucket(ep.name); err != nil {
			return nil, err
		}
	}
	for _, sb := range []struct {
		name []byte
		p    **bolt.Bucket
	}{{subAnn, &ep.a}, {subOrigin, &ep.o}, {subForget, &ep.f}, {subSummary, &ep.s}} {
		*sb.p = b.Bucket(sb.name)
		if *sb.p == nil {
			if !create {
				return nil, fmt.Errorf("%w: epoch bucket without %q", ErrCorrupt, sb.name)
			}
			var err error
			if *sb.p, err = b.CreateBucket(sb.name); err != nil {
				return nil, err
			}
		}
	}
	// Announcement ids come from the bucket's sequence, so "a" only ever
	// grows at its end: full pages when they split (bbolt's default of half
	// leaves every page half empty) halve the pages of "a" a commit writes
	// and the file keeps. Values are only rewritten shorter (write.go).
	ep.a.FillPercent = 1.0
	if create {
		k, err := s.keys.key(id)
		if err != nil {
			return nil, err
		}
		ep.key = k
	} else if ep.key = s.keys.lookup(id); ep.key == nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, errNoKey)
	}
	return ep, nil
}

// load opens the announcement aid (cached for the call).
func (ep *epoch) load(aid uint64) (*opened, error) {
	if o, ok := ep.opened[aid]; ok {
		return o, nil
	}
	v := ep.a.Get(aidKey(aid))
	if v == nil {
		return nil, fmt.Errorf("%w: index entry without announcement", ErrCorrupt)
	}
	st, err := decodeStored(v)
	if err != nil {
		return nil, err
	}
	plain, err := ep.key.open(ep.name, aid, st.sealed)
	if err != nil {
		return nil, err
	}
	b, err := decodeBody(plain)
	if err != nil {
		return nil, err
	}
	o := &opened{body: b, hashes: make([]uint64, len(st.hashes)/8)}
	for i := range o.hashes {
		o.hashes[i] = binary.BigEndian.Uint64(st.hashes[8*i:])
	}
	if ep.opened == nil {
		ep.opened = make(map[uint64]*opened)
	}
	ep.opened[aid] = o
	return o, nil
}

// priorTok is what a session stored before of one token in an epoch.
type priorTok struct {
	here    bool
	near    bool
	nearAid uint64 // the announcement holding the near entry
}

// prior collects what the session (origin hash oh) stored before in ep of
// the tokens whose hashes hs lists: per hash, its kinds still in the
// match index. It reads the stored entries (hash | kind) of the session's
// earlier announcements and opens none: the summary names candidates
// (a hint, confirmed here against each one's live entries) and the
// announcements after it are walked. A hash stands for its token: hashes
// are 63 bits keyed by the epoch's secret key, so no client can aim at a
// collision, and a chance one (about 2⁻⁶³ per pair; a session holds at
// most the rendezvous budget of 4,096 tokens per epoch) would only keep
// one entry from being stored twice. Opening each candidate instead (as
// before) cost a decryption per re-announcement: 1.7 % of a simulated
// day's CPU (issue 14). So a session's k-th announcement in an epoch
// costs a walk over the entries it stored before (bounded by the
// rendezvous token budget per session and epoch), not k decryptions.
func (ep *epoch) prior(oh []byte, hs []uint64) (map[uint64]priorTok, []uint64, error) {
	set := newHashSet(hs)
	var cands []uint64 // aids listing one of hs, ascending
	var upTo uint64
	if sv := ep.s.Get(oh); sv != nil {
		u, ents, err := decodeSummary(sv)
		if err != nil {
			return nil, nil, err
		}
		upTo = u
		hits := make(map[uint64]bool)
		summaryHits(ents, hs, hits)
		for aid := range hits {
			cands = append(cands, aid)
		}
		slices.Sort(cands)
	}
	all, err := indexAids(ep.o, oh, "origin")
	if err != nil {
		return nil, nil, err
	}
	var unmerged []uint64
	for _, aid := range all {
		if aid > upTo {
			unmerged = append(unmerged, aid)
			cands = append(cands, aid)
		}
	}
	var out map[uint64]priorTok
	for _, aid := range cands {
		v := ep.a.Get(aidKey(aid))
		if v == nil {
			if aid <= upTo {
				continue // a summary's hint of an erased announcement
			}
			return nil, nil, fmt.Errorf("%w: origin entry without announcement", ErrCorrupt)
		}
		st, err := decodeStored(v)
		if err != nil {
			return nil, nil, err
		}
		for p := 0; p < len(st.hashes); p += 8 {
			e := binary.BigEndian.Uint64(st.hashes[p:])
			h := e &^ 1
			if set.find(h) < 0 {
				continue
			}
			if out == nil {
				out = make(map[uint64]priorTok)
			}
			pt := out[h]
			if e&1 == kindNear {
				if !pt.near {
					pt.near, pt.nearAid = true, aid
				}
			} else {
				pt.here = true
			}
			out[h] = pt
		}
	}
	return out, unmerged, nil
}

// put stores a's tokens that its origin has not stored yet in this epoch:
// one value (the sealed announcement and its entries) and one entry in
// each of the origin and forget indexes.
func (w *writer) put(tx *bolt.Tx, a *Announce) (int, error) {
	id := epochID{a.EpochSeconds, a.Epoch}
	if w.s.expired(id, w.s.cfg.Now()) {
		// Kept until its expiry, which has passed; nor may a key be made
		// that Expire has just erased.
		return 0, nil
	}
	ep, err := w.epoch(tx, id, true)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, an := range a.Announcements {
		n += len(an.Tokens)
	}
	hs := make([]uint64, 0, n) // every token's hash, in order
	for _, an := range a.Announcements {
		for _, t := range an.Tokens {
			hs = append(hs, ep.hash(t.Value))
		}
	}
	oh := ep.key.idHash(idOrigin, a.Origin[:])
	prior, unmerged, err := ep.prior(oh, hs)
	if err != nil {
		return 0, err
	}
	var upgrades map[uint64][]uint64 // aid → hashes leaving its list
	seen := make(map[[TokenSize]byte]bool, n)
	recs := make([]record, 0, len(a.Announcements))
	entries := make([]uint64, 0, n)
	k := 0
	for _, an := range a.Announcements {
		var toks []Token
		for _, t := range an.Tokens {
			h := hs[k]
			k++
			if here, ok := seen[t.Value]; ok && (here || !t.Here) {
				continue
			}
			seen[t.Value] = t.Here
			if p, ok := prior[h]; ok && (p.here || p.near) {
				if p.here || !t.Here {
					continue // stored already
				}
				// near stored, here now: the near entry goes.
				if upgrades == nil {
					upgrades = make(map[uint64][]uint64)
				}
				upgrades[p.nearAid] = append(upgrades[p.nearAid], h)
				prior[h] = priorTok{here: true}
			}
			toks = append(toks, t)
			entries = append(entries, h|uint64(kindByte(t.Here)))
		}
		if len(toks) > 0 {
			recs = append(recs, record{tokens: toks, sealed: an.Record})
		}
	}
	if len(recs) == 0 {
		return 0, nil
	}
	plain := (&body{origin: a.Origin, tag: a.ForgetTag, shared: a.Shared, recs: recs}).encode()
	v := encodeStored(oh, entries, sealOverhead+len(plain))
	var th []byte // the forget index's key prefix, if this one needs an entry
	if len(a.ForgetTag) > 0 {
		if th = ep.key.idHash(idTag, a.ForgetTag); ep.sessionTagged(oh, th) {
			th = nil
		}
	}
	// Count the bytes first and reserve them: over MaxBytes, nothing.
	d := counts{bytes: 8 + int64(len(v)+sealOverhead+len(plain)) + elemOverhead + idKeyLen + elemOverhead, entries: int64(len(entries))}
	if th != nil {
		d.bytes += idKeyLen + elemOverhead
	}
	if w.s.bytes.Add(d.bytes) > w.s.cfg.MaxBytes {
		w.s.bytes.Add(-d.bytes)
		return 0, ErrFull
	}
	w.reserved += d.bytes
	aid, err := ep.a.NextSequence()
	if err != nil {
		return 0, err
	}
	v = ep.key.seal(v, ep.name, aid, plain)
	if err := ep.a.Put(aidKey(aid), v); err != nil {
		return 0, err
	}
	if err := ep.o.Put(idKey(oh, aid), nil); err != nil {
		return 0, err
	}
	if th != nil {
		if err := ep.f.Put(idKey(th, aid), nil); err != nil {
			return 0, err
		}
	}
	if len(unmerged)+1 >= mergeAt {
		sd, err := ep.merge(oh, unmerged, aid)
		if err != nil {
			return 0, err
		}
		w.s.bytes.Add(sd)
		w.reserved += sd
		d.bytes += sd
	}
	// An upgraded near entry leaves its announcement's list: its bytes
	// are freed at the commit.
	var freed counts
	for old, hs := range upgrades {
		n, err := ep.dropHashes(old, hs)
		if err != nil {
			return 0, err
		}
		freed.bytes += 8 * int64(n)
		freed.entries += int64(n)
	}
	w.d.bytes -= freed.bytes
	w.d.entries += d.entries - freed.entries
	return len(entries), addCounts(tx, ep.name, counts{d.bytes - freed.bytes, d.entries - freed.entries})
}

// sessionTagged reports whether the forget index already leads to one
// of session oh's announcements under tag hash th. Only one announcement
// of a session per tag gets a forget entry (its first with the tag);
// Forget finds the rest through the origin index (tagged). Every
// announcement took one before, a random-key insert that dirtied a page
// of its own at each commit: 16 % of the history's put, and 13 % of the
// pages its commits wrote in a simulated half hour of 1,000 phones
// (issue 14). The entries under
// th are one per session of that phone in the epoch, a few at most; a
// client that puts one tag on many sessions is only looked through for
// maxTagScan of them, and its later announcements get entries of their
// own (as every one did before), so it costs itself space, not others
// time.
func (ep *epoch) sessionTagged(oh, th []byte) bool {
	c := ep.f.Cursor()
	n := 0
	for k, _ := c.Seek(th); k != nil && bytes.HasPrefix(k, th) && n < maxTagScan; k, _ = c.Next() {
		if len(k) == idKeyLen && ep.o.Get(idKey(oh, binary.BigEndian.Uint64(k[8:]))) != nil {
			return true
		}
		n++
	}
	return false
}

// maxTagScan bounds sessionTagged's look through one tag's entries: 8.
const maxTagScan = 8

// dropHashes removes every entry of one of the hashes hs (any kind) from
// announcement aid's list (the sealed body stays as it is) and returns how many.
func (ep *epoch) dropHashes(aid uint64, hs []uint64) (int, error) {
	v := ep.a.Get(aidKey(aid))
	if v == nil {
		return 0, fmt.Errorf("%w: upgrade of a missing announcement", ErrCorrupt)
	}
	st, err := decodeStored(v)
	if err != nil {
		return 0, err
	}
	var keep []uint64
	for p := 0; p < len(st.hashes); p += 8 {
		h := binary.BigEndian.Uint64(st.hashes[p:])
		if !slices.Contains(hs, h&^1) {
			keep = append(keep, h)
		}
	}
	n := len(st.hashes)/8 - len(keep)
	if n == 0 {
		return 0, nil
	}
	nv := append(encodeStored(st.origin, keep, len(st.sealed)), st.sealed...)
	if err := ep.a.Put(aidKey(aid), nv); err != nil {
		return 0, err
	}
	if o, ok := ep.opened[aid]; ok {
		o.hashes = keep
	}
	return n, nil
}

// addCounts adds d to an epoch bucket's meta counts.
func addCounts(tx *bolt.Tx, name []byte, d counts) error {
	m := tx.Bucket(bucketMeta)
	var c counts
	if v := m.Get(name); v != nil {
		var err error
		if c, err = decodeCounts(v); err != nil {
			return err
		}
	}
	c.bytes += d.bytes
	c.entries += d.entries
	if c.bytes < 0 || c.entries < 0 {
		return fmt.Errorf("%w: counts below zero", ErrCorrupt)
	}
	return m.Put(name, c.encode())
}

// Secret is one forget secret of HistoryForget: the epoch and the secret
// whose tag marks the announcements to erase.
type Secret struct {
	Epoch  uint64
	Secret []byte // TagSize bytes
}

// Forget erases every announcement of each secret's epoch (any epoch
// length) whose forget tag is crypto.HistoryForgetTag(secret), and returns
// how many announcements (friends' records) it erased. A wrong secret
// erases nothing.
func (s *Store) Forget(secrets []Secret) (int, error) {
	for _, sc := range secrets {
		if len(sc.Secret) != TagSize {
			return 0, fmt.Errorf("%w: forget secret of %d bytes", ErrInvalid, len(sc.Secret))
		}
	}
	var erased int
	var d counts
	err := s.submit(func(tx *bolt.Tx) error {
		erased, d = 0, counts{}
		for _, sc := range secrets {
			tag := crypto.HistoryForgetTag(sc.Secret)
			n, dd, err := s.forgetTx(tx, sc.Epoch, tag[:])
			if err != nil {
				return err
			}
			erased += n
			d.bytes += dd.bytes
			d.entries += dd.entries
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, bolt.ErrDatabaseNotOpen) || errors.Is(err, ErrClosed) {
			return 0, ErrClosed
		}
		return 0, fmt.Errorf("history: forget: %w", err)
	}
	s.bytes.Add(-d.bytes)
	s.entries.Add(-d.entries)
	return erased, nil
}

// forgetTx erases the announcements tagged tag in every bucket of epoch.
func (s *Store) forgetTx(tx *bolt.Tx, epoch uint64, tag []byte) (int, counts, error) {
	var names [][]byte
	prefix := binary.BigEndian.AppendUint64(nil, epoch)
	c := tx.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) == epochNameLen {
			names = append(names, bytes.Clone(k))
		}
	}
	erased := 0
	var total counts
	for _, name := range names {
		id, err := decodeEpochName(name)
		if err != nil {
			return 0, counts{}, err
		}
		ep, err := s.openEpoch(tx, id, false)
		if err != nil || ep == nil {
			return 0, counts{}, err
		}
		th := ep.key.idHash(idTag, tag)
		aids, err := ep.tagged(th, tag)
		if err != nil {
			return 0, counts{}, err
		}
		var d counts
		for _, aid := range aids {
			o, err := ep.load(aid)
			if err != nil {
				return 0, counts{}, err
			}
			if err := ep.erase(aid, o, th, &d); err != nil {
				return 0, counts{}, err
			}
			erased += len(o.body.recs)
		}
		if d != (counts{}) {
			if err := addCounts(tx, name, counts{-d.bytes, -d.entries}); err != nil {
				return 0, counts{}, err
			}
		}
		total.bytes += d.bytes
		total.entries += d.entries
	}
	return erased, total, nil
}

// tagged returns the announcements of ep whose forget tag is tag (th its
// hash), ascending. The forget index names each session's first
// announcement under a tag (sessionTagged; files written before name
// every one); the session's others are found through the origin index.
// Each is opened and its tag compared: a hash collision erases nothing.
// The cost is the sessions' own announcements, opened once each (load
// caches them for the erase that follows).
func (ep *epoch) tagged(th, tag []byte) ([]uint64, error) {
	firsts, err := indexAids(ep.f, th, "forget")
	if err != nil {
		return nil, err
	}
	// Every announcement of a named session is opened and compared,
	// the named one included: a session whose first entry under th is
	// another tag's (a hash collision) still has its announcements under
	// tag found, since no entry of their own was written (sessionTagged).
	found := make(map[uint64]bool)
	walked := make(map[string]bool) // origin hashes whose session was walked
	for _, first := range firsts {
		o, err := ep.load(first)
		if err != nil {
			return nil, err
		}
		oh := ep.key.idHash(idOrigin, o.body.origin[:])
		if walked[string(oh)] {
			continue
		}
		walked[string(oh)] = true
		aids, err := indexAids(ep.o, oh, "origin")
		if err != nil {
			return nil, err
		}
		for _, a := range aids {
			o, err := ep.load(a)
			if err != nil {
				return nil, err
			}
			if bytes.Equal(o.body.tag, tag) {
				found[a] = true
			}
		}
	}
	aids := make([]uint64, 0, len(found))
	for a := range found {
		aids = append(aids, a)
	}
	slices.Sort(aids)
	return aids, nil
}

// indexAids returns the aids of an origin or forget index's entries
// under prefix (an id hash), ascending: each key is prefix ‖ aid.
func indexAids(b *bolt.Bucket, prefix []byte, index string) ([]uint64, error) {
	var aids []uint64
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) != idKeyLen {
			return nil, fmt.Errorf("%w: %s key of %d bytes", ErrCorrupt, index, len(k))
		}
		aids = append(aids, binary.BigEndian.Uint64(k[8:]))
	}
	return aids, nil
}

// erase deletes one announcement and its origin and forget entries,
// adding what it freed to d.
func (ep *epoch) erase(aid uint64, o *opened, th []byte, d *counts) error {
	k := aidKey(aid)
	v := ep.a.Get(k)
	if v == nil {
		return nil
	}
	d.bytes += int64(len(k)+len(v)) + elemOverhead
	d.entries += int64(len(o.hashes))
	if err := ep.a.Delete(k); err != nil {
		return err
	}
	oh := ep.key.idHash(idOrigin, o.body.origin[:])
	for _, ix := range []struct {
		b *bolt.Bucket
		k []byte
	}{{ep.o, idKey(oh, aid)}, {ep.f, idKey(th, aid)}} {
		if ix.b.Get(ix.k) == nil {
			continue
		}
		if err := ix.b.Delete(ix.k); err != nil {
			return err
		}
		d.bytes += idKeyLen + elemOverhead
	}
	sd, err := ep.pruneSummary(oh, aid)
	d.bytes -= sd
	return err
}
