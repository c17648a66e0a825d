package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/imigee/imigee/crypto"
)

// defaultContactKeyName is the contact-matching OPRF key inside the data
// directory (relay.ContactsConfig.KeyFile).
const defaultContactKeyName = "contacts.key"

// contactKeyPath resolves Contacts.KeyFile against DataDir ("" = none).
func (c *fileConfig) contactKeyPath() string {
	p := c.Contacts.KeyFile
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.DataDir, p)
}

// loadOrCreateContactKey reads the relay's contact OPRF key, making one on
// first use. Like the identity, a file others can read is refused.
func loadOrCreateContactKey(path string) (*crypto.ContactKey, bool, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		k, err := crypto.NewContactKey(rand.Reader)
		if err != nil {
			return nil, false, err
		}
		if err := ensureDataDir(filepath.Dir(path)); err != nil {
			return nil, false, err
		}
		if err := writeSecretFile(path, k.Bytes()); err != nil {
			return nil, false, fmt.Errorf("write contact key: %w", err)
		}
		return k, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("contact key %s: %w", path, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("contact key %s (mode %04o): %w; run: chmod 600 %s", path, fi.Mode().Perm(), errIdentityPerm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, false, fmt.Errorf("contact key %s: %w", path, err)
	}
	k, err := crypto.ParseContactKey(b)
	if err != nil {
		return nil, false, fmt.Errorf("contact key %s: %w", path, err)
	}
	return k, false, nil
}

func cmdContactsKey(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("contacts-key", "contacts-key [-config FILE | -data-dir DIR]", `
Print this relay's contact-matching OPRF public key (hex), creating the key
file on first use. Publish it, with the stage this relay evaluates, in the
network configuration phones use: they check every evaluation against it.`, stderr)
	cfgPath := fset.String("config", "", "config `file` to read data_dir and contacts.key_file from")
	dataDir := fset.String("data-dir", "", "data `directory` (overrides the config)")
	if code, ok := parseFlags(fset, args); !ok {
		return code
	}
	c := defaultFileConfig()
	if *cfgPath != "" {
		var err error
		if c, err = loadConfigFile(*cfgPath); err != nil {
			return fail(stderr, "contacts-key", err)
		}
	}
	if *dataDir != "" {
		c.DataDir = *dataDir
	}
	path := c.contactKeyPath()
	if path == "" {
		return fail(stderr, "contacts-key", errors.New("contacts.key_file is empty: this relay holds no contact key"))
	}
	k, _, err := loadOrCreateContactKey(path)
	if err != nil {
		return fail(stderr, "contacts-key", err)
	}
	fmt.Fprintln(stdout, hex.EncodeToString(k.PublicKey()))
	return exitOK
}
