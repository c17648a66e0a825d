package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// identityFileMode is the only mode the identity file is written with; a
// key other local users can read lets them impersonate the relay.
const identityFileMode = 0o600

// dataDirMode keeps the data directory (database, identity) private to the
// relay's user.
const dataDirMode = 0o700

// errIdentityPerm is returned when an existing identity file is readable or
// writable by group or others; like ssh, we refuse rather than use it.
var errIdentityPerm = errors.New("identity file is accessible by other users")

// ensureDataDir creates dir (and parents) with mode 0700. An existing
// directory keeps its mode: operators may have reasons (a bind mount), and
// what matters most is the identity file's own mode.
func ensureDataDir(dir string) error {
	if err := os.MkdirAll(dir, dataDirMode); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	return nil
}

// loadOrCreateIdentity returns the libp2p private key stored at path,
// creating a fresh Ed25519 key there if the file does not exist. created
// reports whether a new key was written.
func loadOrCreateIdentity(path string) (key crypto.PrivKey, created bool, err error) {
	key, err = loadIdentity(path)
	if err == nil {
		return key, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	key, err = createIdentity(path)
	if err != nil {
		return nil, false, err
	}
	return key, true, nil
}

// loadIdentity reads and parses the key file, refusing one that other users
// can access.
func loadIdentity(path string) (crypto.PrivKey, error) {
	b, err := readPrivateFile(path)
	if err != nil {
		return nil, fmt.Errorf("identity: %w", err)
	}
	key, err := crypto.UnmarshalPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("identity %s: parse key: %w", path, err)
	}
	return key, nil
}

// readPrivateFile reads a key file, refusing one that other users can
// access (errIdentityPerm); a missing file is fs.ErrNotExist. The identity
// and the other key files (analytics, contacts) share it.
func readPrivateFile(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s (mode %04o): %w; run: chmod 600 %s",
			path, fi.Mode().Perm(), errIdentityPerm, path)
	}
	return os.ReadFile(path)
}

// createIdentity writes a new Ed25519 key to path with mode 0600
// (writeSecretFile: never a truncated or clobbered key).
func createIdentity(path string) (crypto.PrivKey, error) {
	if err := ensureDataDir(filepath.Dir(path)); err != nil {
		return nil, err
	}
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate identity: %w", err)
	}
	b, err := crypto.MarshalPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("marshal identity: %w", err)
	}
	if err := writeSecretFile(path, b); err != nil {
		return nil, fmt.Errorf("write identity: %w", err)
	}
	return key, nil
}

// writeSecretFile writes b to path with mode 0600. It writes a temporary
// file in the same directory, fsyncs it and links it into place without
// replacing an existing file, so a crash never leaves a truncated key and
// two concurrent inits cannot overwrite each other.
func writeSecretFile(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".key-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(identityFileMode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	// Link (not rename) fails if path exists: never clobber a key.
	if err := os.Link(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir fsyncs a directory so a new entry in it survives a crash. Errors
// are ignored: some filesystems do not support it and nothing can be done.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// peerIDOf returns the peer ID of key.
func peerIDOf(key crypto.PrivKey) (peer.ID, error) {
	id, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return "", fmt.Errorf("identity: peer id: %w", err)
	}
	return id, nil
}

// writeFileAtomic writes data to path via a temp file and rename, so readers
// (scripts polling relay.addrs) never see a half-written file.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
