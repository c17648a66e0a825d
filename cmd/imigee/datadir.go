package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/imigee/imigee/node"
	"github.com/imigee/imigee/node/localstore"
)

// Files in the data directory besides the node's own (node.db, media/,
// outbox/).
const (
	// keyFile holds the store key, hex, mode 0600: the desktop stand-in for
	// a phone's platform keystore. Whoever can read it and node.db can read
	// the store, so the directory is 0700.
	keyFile = "store.key"
	// relaysFile lists relay multiaddrs, one per line, written by init and
	// used by run when no -relay flag is given.
	relaysFile = "relays"
	// socketFile is the control socket of a running node (mode 0600).
	socketFile = "control.sock"
	// maxSocketPath is the longest unix socket path Linux accepts (107
	// bytes plus the terminating NUL in sun_path).
	maxSocketPath = 107
	// maxSmallFile caps the key and relays files read: 64 KiB.
	maxSmallFile = 64 << 10
)

var (
	errNotInitialised = errors.New("no imigee identity here; run \"imigee init\" first")
	errAlreadyInit    = errors.New("already initialised")
)

// socketPath returns the control socket path of dataDir, or an error if
// the path is too long for a unix socket.
func socketPath(dataDir string) (string, error) {
	p := filepath.Join(dataDir, socketFile)
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	if len(p) > maxSocketPath {
		return "", fmt.Errorf("the data directory path is too long for a control socket (%d bytes > %d): use a shorter -data-dir", len(p), maxSocketPath)
	}
	return p, nil
}

// createKey writes a new random store key; it refuses to overwrite one.
func createKey(dataDir string) ([]byte, error) {
	key := make([]byte, localstore.KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dataDir, keyFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, errAlreadyInit
	}
	if err != nil {
		return nil, err
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return key, err
}

// readKey reads the store key of dataDir.
func readKey(dataDir string) ([]byte, error) {
	b, err := readSmall(filepath.Join(dataDir, keyFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNotInitialised
	}
	if err != nil {
		return nil, err
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != localstore.KeySize {
		return nil, fmt.Errorf("%s is not a %d-byte hex key", keyFile, localstore.KeySize)
	}
	return key, nil
}

// readRelays returns the relays saved by init (none if the file is
// missing). Blank lines and lines starting with # are skipped.
func readRelays(dataDir string) ([]string, error) {
	b, err := readSmall(filepath.Join(dataDir, relaysFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out, nil
}

func writeRelays(dataDir string, relays []string) error {
	var b strings.Builder
	b.WriteString("# Relays this node uses when \"imigee run\" gets no -relay flag.\n")
	for _, r := range relays {
		b.WriteString(r + "\n")
	}
	return os.WriteFile(filepath.Join(dataDir, relaysFile), []byte(b.String()), 0o600)
}

func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() > maxSmallFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxSmallFile)
	}
	b := make([]byte, st.Size())
	_, err = f.ReadAt(b, 0)
	if err != nil && st.Size() > 0 {
		return nil, err
	}
	return b, nil
}

const aboutInit = `
Create the data directory (mode 0700) with a new device identity and a random
store key. The key file (store.key, mode 0600) is the desktop stand-in for a
phone's keystore: the local database is encrypted with it. With -relay, the
relays are saved so that "imigee run" needs no flags.

It prints your friend ID. Nothing is sent anywhere.`

func cmdInit(e *env) int {
	fs, cf := newFlagSet(e, "init")
	var relays stringList
	fs.Var(&relays, "relay", "relay `multiaddr` ending in /p2p/<peer ID>; repeatable")
	if _, code, ok := parseFlags(fs, e.args, 0, 0); !ok {
		return code
	}
	if _, err := parseRelayList(relays); err != nil {
		return fail(e, "init", err)
	}
	if err := os.MkdirAll(cf.dataDir, 0o700); err != nil {
		return fail(e, "init", err)
	}
	if err := os.Chmod(cf.dataDir, 0o700); err != nil {
		return fail(e, "init", err)
	}
	key, err := createKey(cf.dataDir)
	if err != nil {
		if errors.Is(err, errAlreadyInit) {
			return fail(e, "init", fmt.Errorf("%s is already initialised (to start over: imigee forget)", cf.dataDir))
		}
		return fail(e, "init", err)
	}
	if len(relays) > 0 {
		if err := writeRelays(cf.dataDir, relays); err != nil {
			return fail(e, "init", err)
		}
	}
	n, err := node.New(node.Config{DataDir: cf.dataDir, StoreKey: key, Logger: quietLogger()})
	if err != nil {
		return fail(e, "init", err)
	}
	id := n.ID()
	if err := n.Close(); err != nil {
		return fail(e, "init", err)
	}
	if cf.json {
		return printJSON(e, map[string]any{"id": id, "data_dir": cf.dataDir})
	}
	fmt.Fprintf(e.stdout, "Created %s.\nYour friend ID: %s\nNext: imigee run -data-dir %s\n", cf.dataDir, id, cf.dataDir)
	return exitOK
}
