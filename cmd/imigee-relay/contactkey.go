package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/imigee/imigee/crypto"
)

// defaultContactKeyName is the contact-matching OPRF key inside the data
// directory (relay.ContactsConfig.KeyFile).
const defaultContactKeyName = "contacts.key"

// contactKeyPath resolves Contacts.KeyFile against DataDir ("" = none).
func (c *fileConfig) contactKeyPath() string { return c.dataPath(c.Contacts.KeyFile) }

// loadOrCreateContactKey reads the relay's contact OPRF key, making one on
// first use. The file holds the private key as ContactKey.Bytes writes it
// (the format relays already have on disk: reading it another way would
// silently change the published key), mode 0600; one others can read is
// refused (readPrivateFile).
func loadOrCreateContactKey(path string) (*crypto.ContactKey, bool, error) {
	b, created, err := loadOrCreatePrivateFile(path, func() ([]byte, error) {
		k, err := crypto.NewContactKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		return k.Bytes(), nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("contact key: %w", err)
	}
	k, err := crypto.ParseContactKey(b)
	if err != nil {
		return nil, false, fmt.Errorf("contact key %s: %w", path, err)
	}
	return k, created, nil
}

func cmdContactsKey(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("contacts-key", "contacts-key [-config FILE | -data-dir DIR]", `
Print this relay's contact-matching OPRF public key (hex), creating the key
file on first use. Publish it, with the stage this relay evaluates, in the
network configuration phones use: they check every evaluation against it.`, stderr)
	load := keyCommandFlags(fset, "contacts.key_file")
	if code, ok := parseFlags(fset, args); !ok {
		return code
	}
	c, err := load()
	if err != nil {
		return fail(stderr, "contacts-key", err)
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
