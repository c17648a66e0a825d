package history

// Encryption at rest and crypto-shredding of the history (P8, threat model
// "stolen relay disk"), in the spirit of relay/store's day keys: every
// epoch bucket has its own random 32-byte key, one small file in
// Config.KeyDir (outside history.db), created durably before the first
// value sealed under it commits and erased (zeroed, fsynced, removed) as
// soon as the epoch leaves the window. bbolt never erases freed pages:
// what Expire and Forget delete stays in the file until its page is
// reused, but as ciphertext and keyed hashes only, noise once the epoch's
// key is gone.
//
// From the epoch key (HKDF-SHA256, one label each):
//   - the AEAD (XChaCha20-Poly1305, random 24-byte nonces) sealing each
//     stored announcement (origin, forget tag, shared record, tokens,
//     sealed records);
//   - the token hash: AES-256 of token ‖ 0⁸, first 8 bytes (a PRP used as
//     a PRF on a fixed-length input; ≈ 20 ns, so hashing 400 tokens costs
//     little beside the write), naming the match index's entries;
//   - the id hash: HMAC-SHA256 of purpose ‖ value, first 8 bytes, naming
//     the origin and forget indexes' entries.
//
// Truncated hashes can collide; a match or an erase checks every candidate
// they name against the opened value, so a collision there costs a
// decryption, never a wrong match or a wrong erase. Storing does not: a
// session's earlier entries are compared by hash alone (epoch.prior),
// where a collision, which no client can aim at without the epoch's key,
// would only keep one entry from being stored twice.

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/imigee/imigee/relay/internal/keyfile"
)

const (
	// keyFileLen is an epoch key file's length: 32 bytes.
	keyFileLen = 32
	// keyFilePrefix and keyFileSuffix name an epoch key file:
	// e-<epoch seconds>-<epoch>.key.
	keyFilePrefix = "e-"
	keyFileSuffix = ".key"

	nonceSize = chacha20poly1305.NonceSizeX
	// sealOverhead is what sealing adds to a plaintext: nonce and tag.
	sealOverhead = nonceSize + chacha20poly1305.Overhead

	// Purposes of the id hash.
	idOrigin = 'o'
	idTag    = 'f'
)

var (
	// adValue prefixes the associated data of a sealed announcement,
	// followed by its epoch bucket's name and its aid: a value cannot be
	// moved to another epoch or slot unnoticed.
	adValue = []byte("imigee/relay-history/v2/announce")

	infoSeal  = "imigee/relay-history/v2/seal"
	infoToken = "imigee/relay-history/v2/token-hash"
	infoID    = "imigee/relay-history/v2/id-hash"

	// errNoKey: a value of an epoch whose key was erased or never existed.
	errNoKey = errors.New("history: at-rest key erased")
)

// DefaultKeyDir is the default Config.KeyDir for a history file: the path
// with ".keys" appended.
func DefaultKeyDir(path string) string { return path + ".keys" }

// epochID names an epoch bucket: its epoch and epoch length.
type epochID struct {
	seconds uint32
	epoch   uint64
}

// ekey is one epoch's derived keys.
type ekey struct {
	aead cipher.AEAD
	tok  cipher.Block
	mac  []byte
	// macs are HMACs keyed with mac, reset between uses: keying one
	// costs two SHA-256 blocks, as much as the hash itself, and every
	// stored announcement takes one or two id hashes.
	macs sync.Pool
}

func deriveKey(raw []byte) (*ekey, error) {
	var k ekey
	sk, err := hkdf.Key(sha256.New, raw, nil, infoSeal, chacha20poly1305.KeySize)
	if err != nil {
		return nil, err
	}
	if k.aead, err = chacha20poly1305.NewX(sk); err != nil {
		return nil, err
	}
	tk, err := hkdf.Key(sha256.New, raw, nil, infoToken, 32)
	if err != nil {
		return nil, err
	}
	if k.tok, err = aes.NewCipher(tk); err != nil {
		return nil, err
	}
	if k.mac, err = hkdf.Key(sha256.New, raw, nil, infoID, 32); err != nil {
		return nil, err
	}
	return &k, nil
}

// tokenHash is the match index's name of a token. buf is scratch of at
// least 2 × aes.BlockSize bytes, reused across calls: arrays handed to the
// cipher.Block interface would escape, two allocations per token.
func (k *ekey) tokenHash(buf []byte, t [TokenSize]byte) uint64 {
	in, out := buf[:aes.BlockSize], buf[aes.BlockSize:2*aes.BlockSize]
	copy(in, t[:])
	clear(in[TokenSize:])
	k.tok.Encrypt(out, in)
	return binary.BigEndian.Uint64(out)
}

// idHash is the origin or forget index's name of an origin or a tag.
func (k *ekey) idHash(purpose byte, v []byte) []byte {
	m, _ := k.macs.Get().(hash.Hash)
	if m == nil {
		m = hmac.New(sha256.New, k.mac)
	} else {
		m.Reset()
	}
	m.Write([]byte{purpose})
	m.Write(v)
	var sum [sha256.Size]byte
	out := append(make([]byte, 0, 8), m.Sum(sum[:0])[:8]...)
	k.macs.Put(m)
	return out
}

// seal seals plain for slot (epoch bucket name, aid), appending to dst:
// nonce(24) ‖ ciphertext ‖ tag(16).
func (k *ekey) seal(dst, name []byte, aid uint64, plain []byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, nonceSize)...)
	rand.Read(dst[n:]) // never fails (crypto/rand contract since Go 1.24)
	return k.aead.Seal(dst, dst[n:n+nonceSize], plain, slotAD(name, aid))
}

// open opens what seal made for slot (name, aid).
func (k *ekey) open(name []byte, aid uint64, sealed []byte) ([]byte, error) {
	if len(sealed) < sealOverhead {
		return nil, fmt.Errorf("%w: sealed value of %d bytes", ErrCorrupt, len(sealed))
	}
	p, err := k.aead.Open(nil, sealed[:nonceSize], sealed[nonceSize:], slotAD(name, aid))
	if err != nil {
		return nil, fmt.Errorf("%w: sealed value does not open", ErrCorrupt)
	}
	return p, nil
}

func slotAD(name []byte, aid uint64) []byte {
	ad := make([]byte, 0, len(adValue)+len(name)+8)
	ad = append(ad, adValue...)
	ad = append(ad, name...)
	return binary.BigEndian.AppendUint64(ad, aid)
}

// keyring holds the epoch keys of one history. Keys are made and erased
// by writers (the committer, Expire, Open); the mutex keeps the map
// consistent for any reader.
type keyring struct {
	dir    string
	noSync bool

	mu   sync.Mutex
	keys map[epochID]*ekey
}

// openKeyring loads every epoch key in dir, creating dir (0700) if needed.
func openKeyring(dir string, noSync bool) (*keyring, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("history: key dir: %w", err)
	}
	k := &keyring{dir: dir, noSync: noSync, keys: make(map[epochID]*ekey)}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("history: key dir: %w", err)
	}
	for _, e := range ents {
		id, ok := parseKeyName(e.Name())
		if !ok {
			if strings.HasPrefix(e.Name(), "new-") && strings.HasSuffix(e.Name(), ".tmp") {
				// A crash between a key's write and its rename: no
				// value was committed under it.
				_ = zeroRemove(filepath.Join(dir, e.Name()), noSync)
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("history: read epoch key: %w", err)
		}
		if len(b) != keyFileLen {
			return nil, fmt.Errorf("history: epoch key %s: %d bytes, want %d", e.Name(), len(b), keyFileLen)
		}
		ek, err := deriveKey(b)
		if err != nil {
			return nil, fmt.Errorf("history: epoch key: %w", err)
		}
		k.keys[id] = ek
	}
	return k, nil
}

func keyName(id epochID) string {
	return keyFilePrefix + strconv.FormatUint(uint64(id.seconds), 10) + "-" + strconv.FormatUint(id.epoch, 10) + keyFileSuffix
}

func parseKeyName(name string) (epochID, bool) {
	s, ok := strings.CutPrefix(name, keyFilePrefix)
	if !ok {
		return epochID{}, false
	}
	if s, ok = strings.CutSuffix(s, keyFileSuffix); !ok {
		return epochID{}, false
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return epochID{}, false
	}
	es, err1 := strconv.ParseUint(a, 10, 32)
	e, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil || es == 0 {
		return epochID{}, false
	}
	return epochID{uint32(es), e}, true
}

// lookup returns an epoch's key, nil if none is held.
func (k *keyring) lookup(id epochID) *ekey {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.keys[id]
}

// key returns an epoch's key, first making a random one and storing it
// durably (temporary file, fsync, rename, directory fsync) if there is
// none, so no value is ever committed under a key a crash could lose.
// Only the committer creates keys.
func (k *keyring) key(id epochID) (*ekey, error) {
	if ek := k.lookup(id); ek != nil {
		return ek, nil
	}
	raw := make([]byte, keyFileLen)
	rand.Read(raw)
	ek, err := deriveKey(raw)
	if err != nil {
		return nil, fmt.Errorf("history: epoch key: %w", err)
	}
	if err := k.writeKey(keyName(id), raw); err != nil {
		return nil, err
	}
	k.mu.Lock()
	k.keys[id] = ek
	k.mu.Unlock()
	return ek, nil
}

func (k *keyring) writeKey(name string, raw []byte) error {
	if err := keyfile.Write(k.dir, name, raw, k.noSync); err != nil {
		return fmt.Errorf("history: epoch key: %w", err)
	}
	return nil
}

func (k *keyring) syncDir() error {
	if err := keyfile.SyncDir(k.dir, k.noSync); err != nil {
		return fmt.Errorf("history: key dir: %w", err)
	}
	return nil
}

// shred erases the keys of every epoch drop says to (the file is
// overwritten with zeros and fsynced before it is removed; on flash the
// old block may survive the overwrite, see docs/relay.md) and returns how
// many it erased. Callers shred only after the buckets those keys sealed
// are deleted and committed.
func (k *keyring) shred(drop func(epochID) bool) (int, error) {
	k.mu.Lock()
	var ids []epochID
	for id := range k.keys {
		if drop(id) {
			ids = append(ids, id)
			delete(k.keys, id)
		}
	}
	k.mu.Unlock()
	for _, id := range ids {
		if err := zeroRemove(filepath.Join(k.dir, keyName(id)), k.noSync); err != nil {
			return 0, fmt.Errorf("history: erase epoch key: %w", err)
		}
	}
	if len(ids) > 0 {
		if err := k.syncDir(); err != nil {
			return len(ids), err
		}
	}
	return len(ids), nil
}

// held returns how many epoch keys are held.
func (k *keyring) held() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.keys)
}

// zeroRemove overwrites a file with zeros, fsyncs it and removes it.
func zeroRemove(path string, noSync bool) error { return keyfile.ZeroRemove(path, noSync) }
