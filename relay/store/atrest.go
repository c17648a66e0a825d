package store

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/imigee/imigee/crypto"
	"github.com/imigee/imigee/relay/internal/keyfile"
)

// Encryption at rest and crypto-shredding (DESIGN.md P2, threat model
// "stolen relay disk"). Every blob's data and its index entry (mailbox ID
// and size) are sealed with XChaCha20-Poly1305 under the key of the day
// they were sealed on. Day keys live outside the bbolt file, one small
// file each in Config.KeyDir; a day's key is erased once every blob sealed
// under it is past retention. bbolt never erases freed pages, so acked,
// forgotten and expired blobs stay in the file as ciphertext until their
// page is reused; once their day key is gone that ciphertext is noise, and
// no key on disk (the tree keys are expiry times and time-ordered blob
// IDs) names a mailbox.
//
// Sealed value layout: day(4) ‖ nonce(24) ‖ XChaCha20-Poly1305(key[day],
// nonce, plaintext, ad), with ad naming the purpose ("data" or "meta"),
// so a data value cannot pass for an index value. Nonces are random
// (sealing runs on the caller's goroutine, before the committer assigns
// the blob ID), 24 bytes, so collisions are negligible.

const (
	// sealHeader is day(4) ‖ nonce(24).
	sealHeader = 4 + chacha20poly1305.NonceSizeX
	// sealOverhead is what sealing adds to a value: header and tag (44 B).
	sealOverhead = sealHeader + chacha20poly1305.Overhead
	// metaPlainLen is the index plaintext: mailbox(16) ‖ size(4).
	metaPlainLen = crypto.MailboxIDSize + 4
	// keyFileLen is a day key file's length: 32 bytes.
	keyFileLen = chacha20poly1305.KeySize
	// keyFilePrefix and keyFileSuffix name a day key file: day-<n>.key,
	// n the day number since the Unix epoch (UTC).
	keyFilePrefix = "day-"
	keyFileSuffix = ".key"
	// keyGraceDays: a day's key is erased when the day after it has
	// passed retention too. A blob sealed just before midnight may be
	// received (and so expire) after it.
	keyGraceDays = 2
)

var (
	adData = []byte("imigee/relay-store/v3/data")
	adMeta = []byte("imigee/relay-store/v3/meta")

	// errNoKey: a sealed value whose day key was erased (crypto-shredded)
	// or never existed.
	errNoKey = errors.New("store: at-rest key erased")
)

// DefaultKeyDir is the default Config.KeyDir for a store file: the path
// with ".keys" appended.
func DefaultKeyDir(path string) string { return path + ".keys" }

// keyring holds the day keys of one store.
type keyring struct {
	dir    string
	noSync bool

	// createMu serializes making a new day key, so the file write and
	// fsyncs run without mu and readers (open) are not held behind them.
	createMu sync.Mutex

	mu   sync.Mutex // guards keys
	keys map[uint32]cipher.AEAD
}

// openKeyring loads every day key in dir, creating dir (0700) if needed.
func openKeyring(dir string, noSync bool) (*keyring, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: key dir: %w", err)
	}
	k := &keyring{dir: dir, noSync: noSync, keys: make(map[uint32]cipher.AEAD)}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("store: key dir: %w", err)
	}
	for _, e := range ents {
		day, ok := parseKeyName(e.Name())
		if !ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("store: read day key: %w", err)
		}
		if len(b) != keyFileLen {
			return nil, fmt.Errorf("store: day key %s: %d bytes, want %d", e.Name(), len(b), keyFileLen)
		}
		a, err := chacha20poly1305.NewX(b)
		if err != nil {
			return nil, fmt.Errorf("store: day key: %w", err)
		}
		k.keys[day] = a
	}
	return k, nil
}

func keyName(day uint32) string {
	return keyFilePrefix + strconv.FormatUint(uint64(day), 10) + keyFileSuffix
}

func parseKeyName(name string) (uint32, bool) {
	s, ok := strings.CutPrefix(name, keyFilePrefix)
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, keyFileSuffix)
	if !ok {
		return 0, false
	}
	d, err := strconv.ParseUint(s, 10, 32)
	return uint32(d), err == nil
}

// dayOf is the day number of t (UTC).
func dayOf(t time.Time) uint32 { return uint32(t.Unix() / 86400) }

// key returns the AEAD of day, creating and durably storing a new random
// key first if there is none (written to a temporary file, fsynced,
// renamed, and the directory fsynced, so a blob is never committed under
// a key that a crash could lose).
func (k *keyring) key(day uint32) (cipher.AEAD, error) {
	if a := k.lookup(day); a != nil {
		return a, nil
	}
	k.createMu.Lock()
	defer k.createMu.Unlock()
	if a := k.lookup(day); a != nil { // made while we waited
		return a, nil
	}
	raw := make([]byte, keyFileLen)
	rand.Read(raw) // never fails (crypto/rand contract since Go 1.24)
	a, err := chacha20poly1305.NewX(raw)
	if err != nil {
		return nil, err
	}
	if err := k.writeKey(keyName(day), raw); err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.keys[day] = a
	k.mu.Unlock()
	return a, nil
}

// lookup returns the AEAD of day, nil if none is held.
func (k *keyring) lookup(day uint32) cipher.AEAD {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys[day]
}

func (k *keyring) writeKey(name string, raw []byte) error {
	if err := keyfile.Write(k.dir, name, raw, k.noSync); err != nil {
		return fmt.Errorf("store: day key: %w", err)
	}
	return nil
}

func (k *keyring) syncDir() error {
	if err := keyfile.SyncDir(k.dir, k.noSync); err != nil {
		return fmt.Errorf("store: key dir: %w", err)
	}
	return nil
}

// seal seals plain under today's key (day of now) for purpose ad.
func (k *keyring) seal(now time.Time, ad, plain []byte) ([]byte, error) {
	day := dayOf(now)
	a, err := k.key(day)
	if err != nil {
		return nil, err
	}
	out := make([]byte, sealHeader, sealOverhead+len(plain))
	binary.BigEndian.PutUint32(out, day)
	rand.Read(out[4:sealHeader])
	return a.Seal(out, out[4:sealHeader], plain, ad), nil
}

// open opens a sealed value for purpose ad. It fails with errNoKey once
// the value's day key is erased.
func (k *keyring) open(sealed, ad []byte) ([]byte, error) {
	if len(sealed) < sealOverhead {
		return nil, fmt.Errorf("store: sealed value of %d bytes", len(sealed))
	}
	a := k.lookup(binary.BigEndian.Uint32(sealed))
	if a == nil {
		return nil, errNoKey
	}
	p, err := a.Open(nil, sealed[4:sealHeader], sealed[sealHeader:], ad)
	if err != nil {
		return nil, fmt.Errorf("store: sealed value does not open: %w", err)
	}
	return p, nil
}

// sealMeta seals a blob's index entry (mailbox ‖ size).
func (k *keyring) sealMeta(now time.Time, m crypto.MailboxID, size int) ([]byte, error) {
	p := make([]byte, metaPlainLen)
	copy(p, m[:])
	binary.BigEndian.PutUint32(p[crypto.MailboxIDSize:], uint32(size))
	return k.seal(now, adMeta, p)
}

// openMeta opens an index entry.
func (k *keyring) openMeta(v []byte) (m crypto.MailboxID, size int, err error) {
	p, err := k.open(v, adMeta)
	if err != nil {
		return m, 0, err
	}
	if len(p) != metaPlainLen {
		return m, 0, fmt.Errorf("store: index entry of %d bytes", len(p))
	}
	copy(m[:], p)
	return m, int(binary.BigEndian.Uint32(p[crypto.MailboxIDSize:])), nil
}

// shred erases every day key that no live blob needs (inUse) once its day
// is past retention at now: day d's key goes once (d+keyGraceDays) days +
// retention have passed.
// The file is overwritten with zeros and fsynced before it is removed
// (on flash storage the old block may survive the overwrite; the file is
// small and short-lived, but an operator who cares keeps KeyDir on
// storage that discards, e.g. an encrypted volume). It returns how many
// keys were erased.
func (k *keyring) shred(now time.Time, retention time.Duration, inUse map[uint32]bool) (int, error) {
	k.mu.Lock()
	var days []uint32
	for d := range k.keys {
		end := time.Unix(int64(d+keyGraceDays)*86400, 0).Add(retention)
		if !now.Before(end) && !inUse[d] {
			days = append(days, d)
			delete(k.keys, d)
		}
	}
	k.mu.Unlock()
	sort.Slice(days, func(i, j int) bool { return days[i] < days[j] })
	for _, d := range days {
		if err := keyfile.ZeroRemove(filepath.Join(k.dir, keyName(d)), k.noSync); err != nil {
			return 0, fmt.Errorf("store: erase day key: %w", err)
		}
	}
	if len(days) > 0 {
		if err := k.syncDir(); err != nil {
			return len(days), err
		}
	}
	return len(days), nil
}

// days returns how many day keys are held (for Stats).
func (k *keyring) days() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys)
}
