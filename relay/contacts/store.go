package contacts

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/imigee/imigee/internal/boltopt"
	"github.com/imigee/imigee/protocol"
)

// Bucket layout. entries: id(32) ‖ withdraw_hash(32) → expires(8, unix
// seconds) ‖ sealed offer. expiry: expires(8) ‖ id ‖ withdraw_hash → empty,
// so the sweeper walks only what is due.
var (
	bucketEntries = []byte("entries")
	bucketExpiry  = []byte("expiry")
)

const (
	idLen  = protocol.ContactEntryIDSize
	keyLen = idLen + protocol.ContactWithdrawSize
)

// errBudget means the poster's day budget for new entries is spent.
var errBudget = errors.New("contacts: new entries per day exceeded")

// errFull means the relay holds MaxEntries entries already.
var errFull = errors.New("contacts: entry store full")

// entryStore keeps pending pair entries in a bbolt file of their own.
type entryStore struct {
	db *bolt.DB
	n  atomic.Int64 // entries held; written inside Update (serialised)
}

func openStore(path string, noSync bool) (*entryStore, error) {
	db, err := bolt.Open(path, 0o600, boltopt.Options(2*time.Second, noSync))
	if err != nil {
		return nil, fmt.Errorf("contacts: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketEntries, bucketExpiry} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("contacts: init buckets: %w", err)
	}
	st := &entryStore{db: db}
	_ = db.View(func(tx *bolt.Tx) error {
		st.n.Store(int64(tx.Bucket(bucketEntries).Stats().KeyN))
		return nil
	})
	return st, nil
}

func (s *entryStore) close() error { return s.db.Close() }

type postResult struct {
	matches [][2][]byte // entry ID, other poster's sealed offer
	expires []int64
}

// post stores each entry that is new (an entry already there keeps its
// first expiry) and collects the other posters' offers under the same IDs,
// at most maxPosters entries per ID and maxEntries in all.
// allowNew is asked, inside the transaction, whether the count of entries
// this post adds may be charged; false rolls everything back.
func (s *entryStore) post(entries [][3][]byte, now time.Time, retention time.Duration, maxPosters, maxEntries, maxMatches int, allowNew func(int) bool) (postResult, error) {
	var res postResult
	added := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		eb, xb := tx.Bucket(bucketEntries), tx.Bucket(bucketExpiry)
		total := int(s.n.Load())
		for _, e := range entries {
			id, offer, wh := e[0], e[1], e[2]
			key := append(bytes.Clone(id), wh...)
			posters := 0
			var mine []byte
			c := eb.Cursor()
			for k, v := c.Seek(id); k != nil && bytes.HasPrefix(k, id); k, v = c.Next() {
				if bytes.Equal(k, key) {
					mine = v
					continue
				}
				posters++
				if len(res.matches) < maxMatches && !expired(v, now) {
					res.matches = append(res.matches, [2][]byte{bytes.Clone(id), bytes.Clone(v[8:])})
				}
			}
			if mine != nil {
				res.expires = append(res.expires, int64(binary.BigEndian.Uint64(mine)))
				continue
			}
			if posters >= maxPosters {
				return fmt.Errorf("%w: entry has %d posters", errFull, posters)
			}
			if total >= maxEntries {
				return errFull
			}
			exp := now.Add(retention).Unix()
			v := binary.BigEndian.AppendUint64(make([]byte, 0, 8+len(offer)), uint64(exp))
			v = append(v, offer...)
			if err := eb.Put(key, v); err != nil {
				return err
			}
			if err := xb.Put(append(binary.BigEndian.AppendUint64(nil, uint64(exp)), key...), nil); err != nil {
				return err
			}
			total++
			added++
			res.expires = append(res.expires, exp)
		}
		if added > 0 && !allowNew(added) {
			return errBudget
		}
		return nil
	})
	if err == nil {
		s.n.Add(int64(added))
	}
	return res, err
}

func expired(v []byte, now time.Time) bool {
	return int64(binary.BigEndian.Uint64(v)) <= now.Unix()
}

// withdraw deletes the entries whose withdraw hash matches.
func (s *entryStore) withdraw(keys [][]byte) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		eb, xb := tx.Bucket(bucketEntries), tx.Bucket(bucketExpiry)
		for _, key := range keys {
			v := eb.Get(key)
			if v == nil {
				continue
			}
			if err := xb.Delete(append(bytes.Clone(v[:8]), key...)); err != nil {
				return err
			}
			if err := eb.Delete(key); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err == nil {
		s.n.Add(int64(-n))
	}
	return n, err
}

// sweep deletes every entry due at now, at most limit per call.
func (s *entryStore) sweep(now time.Time, limit int) (int, error) {
	n := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		eb, xb := tx.Bucket(bucketEntries), tx.Bucket(bucketExpiry)
		c := xb.Cursor()
		for k, _ := c.First(); k != nil && n < limit; k, _ = c.First() {
			if int64(binary.BigEndian.Uint64(k)) > now.Unix() {
				break
			}
			if err := eb.Delete(k[8:]); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	if err == nil {
		s.n.Add(int64(-n))
	}
	return n, err
}

func (s *entryStore) count() int { return int(s.n.Load()) }
