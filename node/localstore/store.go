package localstore

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
	"golang.org/x/crypto/hkdf"
	"golang.org/x/crypto/nacl/secretbox"

	"github.com/imigee/imigee/internal/boltopt"
)

// KeySize is the length of the store key the app supplies: 32 bytes.
const KeySize = 32

// FileName is the name of the bbolt file inside the data directory.
const FileName = "node.db"

// Bucket names. They are fixed words that say what kind of record a bucket
// holds, never whose.
const (
	Meta     = "meta"     // identity, prekeys, transport state
	Friends  = "friends"  // one record per friend: card, pair keys, settings
	Outbox   = "outbox"   // items this device sends, until every receipt or retention
	Inbox    = "inbox"    // items received (delivered to the app)
	Incoming = "incoming" // offers and transfers in progress (resume points)
	Seen     = "seen"     // item IDs already delivered (exactly-once delivery)
	Settings = "settings" // share policy, quiet zones, auto-accept
	Retry    = "retry"    // per item and friend: attempts and next try
	Relays   = "relays"   // per relay: last successful mailbox fetch
	Contacts = "contacts" // contact matching: pair records and link proposals (node/contactmatch.go)
	History  = "history"  // own per-epoch cell history for late meetings (node/history.go)
	Meetings = "meetings" // meetings with friends, live and late (node/meetings.go)
	Together = "together" // photos waiting for a meeting at their capture time, proposals (node/together.go)
)

var allBuckets = [...]string{Meta, Friends, Outbox, Inbox, Incoming, Seen, Settings, Retry, Relays, Contacts, History, Meetings, Together}

// Tx.wrote has a bit per bucket.
var _ [32 - len(allBuckets)]struct{}

// bucketIndex is each bucket's place in allBuckets (its bit in Tx.wrote
// and its counter in Store.vers).
var bucketIndex = func() map[string]int {
	m := make(map[string]int, len(allBuckets))
	for i, b := range allBuckets {
		m[b] = i
	}
	return m
}()

// Sentinel errors callers branch on.
var (
	// ErrNotFound is returned by Get when no record exists under the name.
	ErrNotFound = errors.New("localstore: not found")
	// ErrBadKey is returned by Open when the store key is not KeySize bytes,
	// and by Get when a record does not open under the store key (a wrong
	// key, a corrupted file, or a record moved between names).
	ErrBadKey = errors.New("localstore: wrong store key or corrupted record")
	// ErrClosed is returned by every method after Close or Wipe.
	ErrClosed = errors.New("localstore: closed")
	// ErrLocked is returned by Open when another process holds the store
	// file (bbolt's file lock) for longer than LockTimeout.
	ErrLocked = errors.New("localstore: store is in use by another process")
)

// LockTimeout is how long Open waits for another process to release the
// store file before it returns ErrLocked: 2 s.
const LockTimeout = 2 * time.Second

const (
	nonceSize = 24
	// nameSize is the length of a keyed-hash record name inside a bucket.
	nameSize = 16
	// bindSize is the prefix of the plaintext that binds a value to its
	// bucket and name, so a record copied elsewhere in the file fails to open.
	bindSize = 16
)

// Store is an encrypted key/value store over one bbolt file. Record names
// are keyed hashes (HMAC-SHA256 under a key derived from the store key) and
// values are sealed with secretbox under another derived key, so the file
// without the store key shows only fixed bucket names, record counts and
// padded sizes.
//
// Store is safe for concurrent use; bbolt serialises writers.
type Store struct {
	path    string
	nameKey []byte
	valKey  [32]byte
	// names and binds hold keyed HMACs (of nameKey, valKey) for reuse:
	// keying one costs as much as a short hash, and every Get and Put
	// makes a name and a binding.
	names, binds sync.Pool

	mu sync.RWMutex // guards db against Close/Wipe during use
	db *bolt.DB

	// vers counts, per bucket (bucketIndex), the committed write
	// transactions that put or deleted one of its records (Version).
	vers [len(allBuckets)]atomic.Uint64
}

// Options are the store's tunables; the zero value is what apps use.
type Options struct {
	// NoSync skips the fsync of every commit and of every file growth
	// (bbolt's DB.NoSync and NoGrowSync): for
	// simulations and tests only. A crash or power loss can then lose
	// recent writes or corrupt the file. Default false.
	NoSync bool
}

// Open opens (or creates) the store file in dir with the 32-byte store key.
func Open(dir string, key []byte) (*Store, error) {
	return OpenWith(dir, key, Options{})
}

// OpenWith is Open with options.
func OpenWith(dir string, key []byte, opt Options) (*Store, error) {
	if len(key) != KeySize {
		return nil, ErrBadKey
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("localstore: mkdir: %w", err)
	}
	s := &Store{path: filepath.Join(dir, FileName)}
	s.nameKey = derive(key, "imigee/localstore/name/v1")
	copy(s.valKey[:], derive(key, "imigee/localstore/value/v1"))
	s.names.New = func() any { return hmac.New(sha256.New, s.nameKey) }
	s.binds.New = func() any { return hmac.New(sha256.New, s.valKey[:]) }
	db, err := bolt.Open(s.path, 0o600, boltopt.Options(LockTimeout, opt.NoSync))
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, ErrLocked
	}
	if err != nil {
		return nil, fmt.Errorf("localstore: open: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range allBuckets {
			if _, err := tx.CreateBucketIfNotExists([]byte(b)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("localstore: create buckets: %w", err)
	}
	s.db = db
	if err := s.checkKey(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// checkKey stores a canary on first open and verifies it later, so a wrong
// store key fails at Open instead of at the first read.
func (s *Store) checkKey() error {
	// The canary lives under a fixed name (not a keyed hash), so a wrong
	// key finds it and fails to open it.
	name := []byte("canary")
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(Meta))
		if v := b.Get(name); v != nil {
			if _, err := s.open(Meta, name, v); err != nil {
				return ErrBadKey
			}
			return nil
		}
		sealed, err := s.seal(Meta, name, []byte("imigee"))
		if err != nil {
			return err
		}
		return b.Put(name, sealed)
	})
}

func derive(key []byte, info string) []byte {
	out := make([]byte, 32)
	if _, err := io.ReadFull(hkdf.New(sha256.New, key, nil, []byte(info)), out); err != nil {
		panic(err) // hkdf cannot fail for 32 bytes
	}
	return out
}

// name maps a logical record name to its keyed hash within bucket.
func (s *Store) name(bucket, id string) []byte {
	return keyed(&s.names, bucket, []byte(id), nameSize)
}

func (s *Store) bind(bucket string, name []byte) []byte {
	return keyed(&s.binds, bucket, name, bindSize)
}

// keyed is the first n bytes of HMAC(bucket ‖ 0 ‖ v) with a pooled HMAC.
func keyed(pool *sync.Pool, bucket string, v []byte, n int) []byte {
	m := pool.Get().(hash.Hash)
	m.Reset()
	m.Write([]byte(bucket))
	m.Write([]byte{0})
	m.Write(v)
	out := m.Sum(make([]byte, 0, sha256.Size))[:n]
	pool.Put(m)
	return out
}

// padTo rounds plaintext lengths up so that sizes in the file say little.
const padTo = 64

func (s *Store) seal(bucket string, name, v []byte) ([]byte, error) {
	pt := make([]byte, 0, bindSize+4+len(v)+padTo)
	pt = append(pt, s.bind(bucket, name)...)
	n := uint32(len(v))
	pt = append(pt, byte(n>>24), byte(n>>16), byte(n>>8), byte(n))
	pt = append(pt, v...)
	if r := len(pt) % padTo; r != 0 {
		pt = append(pt, make([]byte, padTo-r)...)
	}
	var nonce [nonceSize]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return nil, fmt.Errorf("localstore: nonce: %w", err)
	}
	return secretbox.Seal(nonce[:], pt, &nonce, &s.valKey), nil
}

func (s *Store) open(bucket string, name, sealed []byte) ([]byte, error) {
	if len(sealed) < nonceSize+secretbox.Overhead {
		return nil, ErrBadKey
	}
	var nonce [nonceSize]byte
	copy(nonce[:], sealed)
	pt, ok := secretbox.Open(nil, sealed[nonceSize:], &nonce, &s.valKey)
	if !ok || len(pt) < bindSize+4 || !hmac.Equal(pt[:bindSize], s.bind(bucket, name)) {
		return nil, ErrBadKey
	}
	n := int(pt[bindSize])<<24 | int(pt[bindSize+1])<<16 | int(pt[bindSize+2])<<8 | int(pt[bindSize+3])
	if n > len(pt)-bindSize-4 {
		return nil, ErrBadKey
	}
	return pt[bindSize+4 : bindSize+4+n], nil
}

// Put stores v under (bucket, id), replacing any previous value.
func (s *Store) Put(bucket, id string, v []byte) error {
	return s.Update(func(tx *Tx) error { return tx.Put(bucket, id, v) })
}

// Get returns the value under (bucket, id) or ErrNotFound.
func (s *Store) Get(bucket, id string) ([]byte, error) {
	var out []byte
	err := s.View(func(tx *Tx) error {
		v, err := tx.Get(bucket, id)
		out = v
		return err
	})
	return out, err
}

// Delete removes (bucket, id); deleting an absent record is not an error.
func (s *Store) Delete(bucket, id string) error {
	return s.Update(func(tx *Tx) error { return tx.Delete(bucket, id) })
}

// ForEach calls fn with every value in bucket, in no useful order (names
// are hashes). Records that do not open under the key are skipped; fn's
// error stops the walk.
func (s *Store) ForEach(bucket string, fn func(v []byte) error) error {
	return s.View(func(tx *Tx) error { return tx.ForEach(bucket, fn) })
}

// Count returns the number of records in bucket.
func (s *Store) Count(bucket string) int {
	n := 0
	_ = s.View(func(tx *Tx) error {
		n = tx.tx.Bucket([]byte(bucket)).Stats().KeyN
		return nil
	})
	return n
}

// Tx is a transaction over the store; its methods seal and open values.
type Tx struct {
	s     *Store
	tx    *bolt.Tx
	wrote uint32 // bit i: a record of allBuckets[i] was put or deleted
}

// mark notes a write to bucket (counted by Version once committed).
func (t *Tx) mark(bucket string) {
	if i, ok := bucketIndex[bucket]; ok {
		t.wrote |= 1 << i
	}
}

// Update runs fn in a read-write transaction.
func (s *Store) Update(fn func(tx *Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	tx := &Tx{s: s}
	err := s.db.Update(func(btx *bolt.Tx) error {
		tx.tx, tx.wrote = btx, 0
		return fn(tx)
	})
	if err == nil {
		// After the commit, so a reader that reads a version and then
		// begins a transaction either sees the write or a newer version.
		for i := range s.vers {
			if tx.wrote&(1<<i) != 0 {
				s.vers[i].Add(1)
			}
		}
	}
	return err
}

// Version changes (grows) after every committed write transaction that
// put or deleted a record of bucket. A reader that took version v before
// a read transaction, and finds Version still v later, knows the bucket
// is as that transaction saw it: the node's delivery loop skips
// re-reading an outbox nothing wrote to. 0 for an unknown bucket.
func (s *Store) Version(bucket string) uint64 {
	i, ok := bucketIndex[bucket]
	if !ok {
		return 0
	}
	return s.vers[i].Load()
}

// View runs fn in a read-only transaction.
func (s *Store) View(fn func(tx *Tx) error) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return ErrClosed
	}
	return s.db.View(func(btx *bolt.Tx) error { return fn(&Tx{s: s, tx: btx}) })
}

func (t *Tx) bucket(name string) (*bolt.Bucket, error) {
	b := t.tx.Bucket([]byte(name))
	if b == nil {
		return nil, fmt.Errorf("localstore: unknown bucket %q", name)
	}
	return b, nil
}

// Put stores v under (bucket, id).
func (t *Tx) Put(bucket, id string, v []byte) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	n := t.s.name(bucket, id)
	sealed, err := t.s.seal(bucket, n, v)
	if err != nil {
		return err
	}
	t.mark(bucket)
	return b.Put(n, sealed)
}

// Get returns a copy of the value under (bucket, id) or ErrNotFound.
func (t *Tx) Get(bucket, id string) ([]byte, error) {
	b, err := t.bucket(bucket)
	if err != nil {
		return nil, err
	}
	n := t.s.name(bucket, id)
	sealed := b.Get(n)
	if sealed == nil {
		return nil, ErrNotFound
	}
	return t.s.open(bucket, n, sealed)
}

// Has reports whether (bucket, id) exists.
func (t *Tx) Has(bucket, id string) bool {
	b, err := t.bucket(bucket)
	return err == nil && b.Get(t.s.name(bucket, id)) != nil
}

// Delete removes (bucket, id).
func (t *Tx) Delete(bucket, id string) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	t.mark(bucket)
	return b.Delete(t.s.name(bucket, id))
}

// ForEach calls fn for every value of bucket that opens under the key.
func (t *Tx) ForEach(bucket string, fn func(v []byte) error) error {
	b, err := t.bucket(bucket)
	if err != nil {
		return err
	}
	return b.ForEach(func(k, sealed []byte) error {
		v, err := t.s.open(bucket, k, sealed)
		if err != nil {
			return nil // not ours to judge here; a corrupted record is skipped
		}
		return fn(v)
	})
}

// Close closes the file. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// Wipe closes the store and overwrites and deletes its file. Overwriting
// is best effort (flash storage may keep old blocks); with the store key
// erased by the app the old blocks are ciphertext anyway.
func (s *Store) Wipe() error {
	if err := s.Close(); err != nil {
		return fmt.Errorf("localstore: wipe: %w", err)
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY, 0)
	if err == nil {
		if st, err := f.Stat(); err == nil {
			zero := make([]byte, 64<<10)
			for off := int64(0); off < st.Size(); off += int64(len(zero)) {
				if _, err := f.WriteAt(zero, off); err != nil {
					break
				}
			}
			_ = f.Sync()
		}
		f.Close()
	}
	if err := os.Remove(s.path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("localstore: wipe: %w", err)
	}
	return nil
}

// Path returns the file path of the store.
func (s *Store) Path() string { return s.path }
