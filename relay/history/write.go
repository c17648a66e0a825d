package history

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

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
// runs bbolt's Batch may make of its function.
type writer struct {
	s        *Store
	reserved int64 // bytes added to s.bytes ahead of the commit
	d        counts
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
		s.bytes.Add(-w.reserved)
		w.reserved, w.d = 0, counts{}
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

// buckets of one epoch.
type epochBuckets struct {
	name       []byte
	x, a, r, f *bolt.Bucket
}

func openEpoch(tx *bolt.Tx, name []byte, create bool) (*epochBuckets, error) {
	eb := &epochBuckets{name: name}
	b := tx.Bucket(name)
	if b == nil {
		if !create {
			return nil, nil
		}
		var err error
		if b, err = tx.CreateBucket(name); err != nil {
			return nil, err
		}
	}
	for _, sb := range []struct {
		name []byte
		p    **bolt.Bucket
	}{{subIndex, &eb.x}, {subAnn, &eb.a}, {subRecords, &eb.r}, {subForget, &eb.f}} {
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
	return eb, nil
}

// headers caches decoded headers within one transaction.
type headers struct {
	eb *epochBuckets
	m  map[uint64]header
}

func (h *headers) get(aid uint64) (header, error) {
	if hd, ok := h.m[aid]; ok {
		return hd, nil
	}
	v := h.eb.a.Get(aidKey(aid))
	if v == nil {
		return header{}, fmt.Errorf("%w: index entry without header", ErrCorrupt)
	}
	hd, err := decodeHeader(v)
	if err != nil {
		return header{}, err
	}
	if h.m == nil {
		h.m = make(map[uint64]header)
	}
	h.m[aid] = hd
	return hd, nil
}

// match finds the stored entries equal to a's tokens (kinds permitting)
// from other origins.
func (w *writer) match(tx *bolt.Tx, a *Announce, max int) ([]Match, int, error) {
	eb, err := openEpoch(tx, epochKey(a.EpochSeconds, a.Epoch), false)
	if err != nil || eb == nil {
		return nil, 0, err
	}
	hs := headers{eb: eb}
	var ms []Match
	dropped := 0
	seen := make(map[[TokenSize]byte]bool)
	for _, an := range a.Announcements {
		for _, t := range an.Tokens {
			wasHere, again := seen[t.Value]
			if again && (wasHere || !t.Here) {
				continue
			}
			seen[t.Value] = t.Here
			// again: near before, here now; the stored here entries
			// matched then, only the stored near ones are new.
			c := eb.x.Cursor()
			for k, v := c.Seek(t.Value[:]); k != nil && bytes.HasPrefix(k, t.Value[:]); k, v = c.Next() {
				aid, i, err := decodeIndexKey(k)
				if err != nil {
					return nil, 0, err
				}
				here, err := decodeKind(v)
				if err != nil {
					return nil, 0, err
				}
				if (!here && !t.Here) || (here && again) {
					continue // near=near does not match; here matched already
				}
				hd, err := hs.get(aid)
				if err != nil {
					return nil, 0, err
				}
				if hd.origin == a.Origin {
					continue
				}
				if len(ms) >= max {
					dropped++
					continue
				}
				rv := eb.r.Get(recordKey(aid, i))
				if rv == nil {
					return nil, 0, fmt.Errorf("%w: index entry without record", ErrCorrupt)
				}
				rec, err := decodeRecord(rv)
				if err != nil {
					return nil, 0, err
				}
				ms = append(ms, Match{Epoch: a.Epoch, Token: t.Value, Record: bytes.Clone(rec.sealed), Shared: bytes.Clone(hd.shared)})
			}
		}
	}
	return ms, dropped, nil
}

// put stores a's tokens that its origin has not stored yet in this epoch.
func (w *writer) put(tx *bolt.Tx, a *Announce) (int, error) {
	name := epochKey(a.EpochSeconds, a.Epoch)
	eb, err := openEpoch(tx, name, true)
	if err != nil {
		return 0, err
	}
	hs := headers{eb: eb}
	var upgrades [][]byte
	seen := make(map[[TokenSize]byte]bool)
	kept := make([]Announcement, 0, len(a.Announcements))
	for _, an := range a.Announcements {
		var toks []Token
		for _, t := range an.Tokens {
			if here, ok := seen[t.Value]; ok && (here || !t.Here) {
				continue
			}
			seen[t.Value] = t.Here
			dup := false
			c := eb.x.Cursor()
			for k, v := c.Seek(t.Value[:]); k != nil && bytes.HasPrefix(k, t.Value[:]); k, v = c.Next() {
				aid, _, err := decodeIndexKey(k)
				if err != nil {
					return 0, err
				}
				hd, err := hs.get(aid)
				if err != nil {
					return 0, err
				}
				if hd.origin != a.Origin {
					continue
				}
				here, err := decodeKind(v)
				if err != nil {
					return 0, err
				}
				if here || !t.Here {
					dup = true
					break
				}
				upgrades = append(upgrades, bytes.Clone(k)) // near stored, here now
			}
			if !dup {
				toks = append(toks, t)
			}
		}
		if len(toks) > 0 {
			kept = append(kept, Announcement{Tokens: toks, Record: an.Record})
		}
	}
	if len(kept) == 0 {
		return 0, nil
	}
	// Count the bytes first and reserve them: over MaxBytes, nothing.
	hdr := header{origin: a.Origin, tag: a.ForgetTag, count: uint16(len(kept)), shared: a.Shared}
	hv := hdr.encode()
	var d counts
	d.bytes += 8 + int64(len(hv)) + elemOverhead
	if len(a.ForgetTag) > 0 {
		d.bytes += TagSize + 8 + elemOverhead
	}
	recs := make([][]byte, len(kept))
	for i, an := range kept {
		recs[i] = (&record{tokens: an.Tokens, sealed: an.Record}).encode()
		d.bytes += 10 + int64(len(recs[i])) + elemOverhead
		d.bytes += int64(len(an.Tokens)) * (TokenSize + 10 + 1 + elemOverhead)
		d.entries += int64(len(an.Tokens))
	}
	if w.s.bytes.Add(d.bytes) > w.s.cfg.MaxBytes {
		w.s.bytes.Add(-d.bytes)
		return 0, ErrFull
	}
	w.reserved += d.bytes
	aid, err := eb.a.NextSequence()
	if err != nil {
		return 0, err
	}
	if err := eb.a.Put(aidKey(aid), hv); err != nil {
		return 0, err
	}
	if len(a.ForgetTag) > 0 {
		if err := eb.f.Put(append(bytes.Clone(a.ForgetTag), aidKey(aid)...), nil); err != nil {
			return 0, err
		}
	}
	added := 0
	for i, an := range kept {
		if err := eb.r.Put(recordKey(aid, uint16(i)), recs[i]); err != nil {
			return 0, err
		}
		for _, t := range an.Tokens {
			if err := eb.x.Put(indexKey(t.Value, aid, uint16(i)), kindByte(t.Here)); err != nil {
				return 0, err
			}
			added++
		}
	}
	// An upgraded near entry goes: its bytes are freed at the commit.
	var freed counts
	for _, k := range upgrades {
		if err := eb.x.Delete(k); err != nil {
			return 0, err
		}
		freed.bytes += int64(len(k)) + 1 + elemOverhead
		freed.entries++
	}
	w.d.bytes -= freed.bytes
	w.d.entries += d.entries - freed.entries
	return added, addCounts(tx, name, counts{d.bytes - freed.bytes, d.entries - freed.entries})
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
			n, dd, err := forgetTx(tx, sc.Epoch, tag[:])
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
func forgetTx(tx *bolt.Tx, epoch uint64, tag []byte) (int, counts, error) {
	var names [][]byte
	prefix := binary.BigEndian.AppendUint64(nil, epoch)
	c := tx.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		if len(k) == epochKeyLen {
			names = append(names, bytes.Clone(k))
		}
	}
	erased := 0
	var total counts
	for _, name := range names {
		eb, err := openEpoch(tx, name, false)
		if err != nil || eb == nil {
			return 0, counts{}, err
		}
		var aids []uint64
		fc := eb.f.Cursor()
		for k, _ := fc.Seek(tag); k != nil && bytes.HasPrefix(k, tag); k, _ = fc.Next() {
			if len(k) != TagSize+8 {
				return 0, counts{}, fmt.Errorf("%w: forget key of %d bytes", ErrCorrupt, len(k))
			}
			aids = append(aids, binary.BigEndian.Uint64(k[TagSize:]))
		}
		var d counts
		for _, aid := range aids {
			n, err := eraseAnnounce(eb, aid, &d)
			if err != nil {
				return 0, counts{}, err
			}
			erased += n
			fk := append(bytes.Clone(tag), aidKey(aid)...)
			if err := eb.f.Delete(fk); err != nil {
				return 0, counts{}, err
			}
			d.bytes += int64(len(fk)) + elemOverhead
		}
		if len(aids) > 0 {
			if err := addCounts(tx, name, counts{-d.bytes, -d.entries}); err != nil {
				return 0, counts{}, err
			}
		}
		total.bytes += d.bytes
		total.entries += d.entries
	}
	return erased, total, nil
}

// eraseAnnounce deletes one announcement's header, records and index
// entries, adding what it freed to d; it returns the records erased.
func eraseAnnounce(eb *epochBuckets, aid uint64, d *counts) (int, error) {
	hk := aidKey(aid)
	hv := eb.a.Get(hk)
	if hv == nil {
		return 0, nil
	}
	d.bytes += int64(len(hk)+len(hv)) + elemOverhead
	var rks [][]byte
	var recs []record
	rc := eb.r.Cursor()
	for k, v := rc.Seek(hk); k != nil && bytes.HasPrefix(k, hk); k, v = rc.Next() {
		rec, err := decodeRecord(v)
		if err != nil {
			return 0, err
		}
		d.bytes += int64(len(k)+len(v)) + elemOverhead
		rks = append(rks, bytes.Clone(k))
		rec.sealed = nil
		recs = append(recs, rec)
	}
	for j, k := range rks {
		i := binary.BigEndian.Uint16(k[8:])
		for _, t := range recs[j].tokens {
			ik := indexKey(t.Value, aid, i)
			if eb.x.Get(ik) == nil {
				continue // upgraded to here by a later announcement
			}
			if err := eb.x.Delete(ik); err != nil {
				return 0, err
			}
			d.bytes += int64(len(ik)) + 1 + elemOverhead
			d.entries++
		}
		if err := eb.r.Delete(k); err != nil {
			return 0, err
		}
	}
	if err := eb.a.Delete(hk); err != nil {
		return 0, err
	}
	return len(rks), nil
}
