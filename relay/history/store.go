package history

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Defaults and bounds of Config.
const (
	// DefaultWindow is how long announcements are kept: 72 h.
	DefaultWindow = 72 * time.Hour
	// MaxWindow is the longest window an operator may set: 720 h (30
	// days, the product's promise for location material on servers).
	MaxWindow = 720 * time.Hour
	// DefaultMaxBytes caps the counted bytes of the history: 1 GiB
	// (≈ 1,700 active user-days at the measured ≈ 600 KB each; see
	// docs/relay.md).
	DefaultMaxBytes = 1 << 30
)

// Config configures a Store.
type Config struct {
	// Path is the bbolt file (the relay uses DataDir/history.db).
	Path string
	// Window is how long an epoch is kept after its end, and how far back
	// a late announcement may go. 0 < Window ≤ MaxWindow (the relay does
	// not open a Store when its window is 0: history off).
	Window time.Duration
	// MaxBytes caps the counted bytes. Default DefaultMaxBytes.
	MaxBytes int64
	// Now is the clock. nil = time.Now.
	Now func() time.Time
	// NoSync skips fsync (tests and benchmarks of CPU only).
	NoSync bool
}

// Token is one stored token: its value and kind.
type Token struct {
	Value [TokenSize]byte
	Here  bool // here, else near
}

// Announcement is one friend's tokens and sealed record (a key share when
// the Announce has a shared record).
type Announcement struct {
	Tokens []Token
	Record []byte
}

// Announce is what a Store keeps of one Announce (live or late, local or
// gossiped).
type Announce struct {
	EpochSeconds  uint32
	Epoch         uint64
	Origin        [OriginSize]byte // the announcing session's random name
	Shared        []byte           // optional shared record, ≤ MaxRecord
	ForgetTag     []byte           // optional, TagSize bytes
	Announcements []Announcement
}

// Match is a late announcement's token that equals a stored one: the late
// side's own token and the stored side's records.
type Match struct {
	Epoch  uint64
	Token  [TokenSize]byte
	Record []byte // the stored side's sealed record (or key share)
	Shared []byte // the stored side's shared record, if any
}

// Stats are the history's counters.
type Stats struct {
	Bytes    int64 // counted bytes (keys, values, element headers)
	Entries  int64 // token index entries
	FileSize int64 // size of the database file
}

// Store is the relay's history. Safe for concurrent use.
type Store struct {
	cfg Config
	db  *bolt.DB

	bytes   atomic.Int64 // counted bytes, including reservations of writes in flight
	entries atomic.Int64 // index entries committed

	calls         chan call     // to the committer (commit.go)
	committerDone chan struct{} // closed when the committer returned

	cmu    sync.RWMutex // guards closed; submitters hold it for reading while they queue
	closed bool
}

// Open opens (creating if needed) the history file and reads its counts.
func Open(cfg Config) (*Store, error) {
	if cfg.Window <= 0 || cfg.Window > MaxWindow {
		return nil, fmt.Errorf("history: window %v outside (0, %v]", cfg.Window, MaxWindow)
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = DefaultMaxBytes
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	db, err := bolt.Open(cfg.Path, 0o600, &bolt.Options{Timeout: 5 * time.Second, NoSync: cfg.NoSync})
	if err != nil {
		return nil, fmt.Errorf("history: open %s: %w", cfg.Path, err)
	}
	s := &Store{cfg: cfg, db: db, calls: make(chan call, maxBatch), committerDone: make(chan struct{})}
	err = db.Update(func(tx *bolt.Tx) error {
		m, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		return m.ForEach(func(k, v []byte) error {
			if _, _, err := decodeEpochKey(k); err != nil {
				return err
			}
			c, err := decodeCounts(v)
			if err != nil {
				return err
			}
			s.bytes.Add(c.bytes)
			s.entries.Add(c.entries)
			return nil
		})
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("history: open %s: %w", cfg.Path, err)
	}
	go s.commitLoop()
	return s, nil
}

// Close waits for queued writes to commit, stops the committer and closes
// the file. Calls after Close fail with ErrClosed. Idempotent.
func (s *Store) Close() error {
	s.cmu.Lock()
	if s.closed {
		s.cmu.Unlock()
		return nil
	}
	s.closed = true
	close(s.calls)
	s.cmu.Unlock()
	<-s.committerDone
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("history: close: %w", err)
	}
	return nil
}

// Window returns the configured window.
func (s *Store) Window() time.Duration { return s.cfg.Window }

// Bytes returns the counted bytes (with writes in flight), cheaply.
func (s *Store) Bytes() int64 { return s.bytes.Load() }

// Stats returns the counters.
func (s *Store) Stats() Stats {
	st := Stats{Bytes: s.bytes.Load(), Entries: s.entries.Load()}
	_ = s.db.View(func(tx *bolt.Tx) error {
		st.FileSize = tx.Size()
		return nil
	})
	return st
}

// InWindow reports whether a late announcement for epoch (of length
// epochSeconds) is accepted now: now_epoch − window/length ≤ epoch ≤
// now_epoch.
func (s *Store) InWindow(epochSeconds uint32, epoch uint64) bool {
	if epochSeconds == 0 {
		return false
	}
	now := s.cfg.Now().Unix()
	if now < 0 {
		return false
	}
	nowE := uint64(now) / uint64(epochSeconds)
	back := uint64(s.cfg.Window / (time.Duration(epochSeconds) * time.Second))
	return epoch <= nowE && epoch+back >= nowE
}

// expired reports whether an epoch bucket's end is older than the window.
func (s *Store) expired(epochSeconds uint32, epoch uint64, now time.Time) bool {
	end := time.Unix(int64((epoch+1)*uint64(epochSeconds)), 0)
	return !end.Add(s.cfg.Window).After(now)
}

// Expire deletes every epoch bucket whose end is older than the window
// (whole buckets: one DeleteBucket each) and returns the entries dropped.
func (s *Store) Expire() (int64, error) {
	now := s.cfg.Now()
	var dropped counts
	err := s.db.Update(func(tx *bolt.Tx) error {
		dropped = counts{}
		m := tx.Bucket(bucketMeta)
		var dead [][]byte
		err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if len(name) != epochKeyLen {
				return nil
			}
			es, e, err := decodeEpochKey(name)
			if err != nil {
				return err
			}
			if s.expired(es, e, now) {
				dead = append(dead, append([]byte(nil), name...))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, name := range dead {
			if v := m.Get(name); v != nil {
				c, err := decodeCounts(v)
				if err != nil {
					return err
				}
				dropped.bytes += c.bytes
				dropped.entries += c.entries
				if err := m.Delete(name); err != nil {
					return err
				}
			}
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("history: expire: %w", err)
	}
	s.bytes.Add(-dropped.bytes)
	s.entries.Add(-dropped.entries)
	return dropped.entries, nil
}
