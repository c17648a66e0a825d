package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"

	"golang.org/x/crypto/curve25519"

	"github.com/imigee/imigee/relay"
)

// keyCommandFlags adds -config and -data-dir to a key-printing command and
// returns the loader of the resulting config (defaults, the file, then the
// flag).
func keyCommandFlags(fset *flag.FlagSet, key string) func() (fileConfig, error) {
	cfgPath := fset.String("config", "", "config `file` to read data_dir and "+key+" from")
	dataDir := fset.String("data-dir", "", "data `directory` (overrides the config)")
	return func() (fileConfig, error) {
		c := defaultFileConfig()
		if *cfgPath != "" {
			var err error
			if c, err = loadConfigFile(*cfgPath); err != nil {
				return c, err
			}
		}
		if *dataDir != "" {
			c.DataDir = *dataDir
		}
		return c, nil
	}
}

// dataPath resolves a key file name against DataDir.
func (c *fileConfig) dataPath(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.DataDir, p)
}

// loadOrCreatePrivateFile reads a secret file (readPrivateFile: one
// others can read is refused), or on first use writes what gen makes
// (mode 0600, creating its directory) and returns that.
func loadOrCreatePrivateFile(path string, gen func() ([]byte, error)) ([]byte, bool, error) {
	b, err := readPrivateFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if b, err = gen(); err != nil {
			return nil, false, err
		}
		if err := ensureDataDir(filepath.Dir(path)); err != nil {
			return nil, false, err
		}
		if err := writeSecretFile(path, b); err != nil {
			return nil, false, fmt.Errorf("write %s: %w", path, err)
		}
		return b, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	return b, false, nil
}

// loadOrCreateSecret reads a 32-byte secret file (refusing one others can
// read), making it on first use.
func loadOrCreateSecret(path string) (*[32]byte, bool, error) {
	b, created, err := loadOrCreatePrivateFile(path, func() ([]byte, error) {
		b := make([]byte, 32)
		_, err := rand.Read(b)
		return b, err
	})
	if err != nil {
		return nil, false, fmt.Errorf("key: %w", err)
	}
	if len(b) != 32 {
		return nil, false, fmt.Errorf("key %s: %d bytes, want 32", path, len(b))
	}
	return (*[32]byte)(b), created, nil
}

// loadOrCreateBoxKey reads the collector's X25519 key (loadOrCreateSecret),
// making it on first use, and derives its public key: the one derivation
// both the daemon and the analytics-key command use.
func loadOrCreateBoxKey(path string) (priv, pub *[32]byte, created bool, err error) {
	priv, created, err = loadOrCreateSecret(path)
	if err != nil {
		return nil, nil, false, fmt.Errorf("analytics key: %w", err)
	}
	p, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		return nil, nil, false, fmt.Errorf("analytics key %s: %w", path, err)
	}
	return priv, (*[32]byte)(p), created, nil
}

// loadAnalyticsKeys loads (or makes) the collector's box key and the
// verify key shared with its partner.
func loadAnalyticsKeys(c *fileConfig, a *relay.AnalyticsConfig, log *slog.Logger) error {
	priv, pub, created, err := loadOrCreateBoxKey(c.dataPath(a.KeyFile))
	if err != nil {
		return err
	}
	if created {
		log.Info("created an analytics collector key", "file", c.dataPath(a.KeyFile))
	}
	a.BoxPriv, a.BoxPub = priv, pub
	vk, created, err := loadOrCreateSecret(c.dataPath(a.VerifyKeyFile))
	if err != nil {
		return fmt.Errorf("analytics verify key: %w", err)
	}
	if created {
		log.Warn("created an analytics verify key: copy the same file to the partner collector", "file", c.dataPath(a.VerifyKeyFile))
	}
	a.VerifyKey = vk
	return nil
}

func cmdAnalyticsKey(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("analytics-key", "analytics-key [-config FILE | -data-dir DIR]", `
Print this collector's analytics public key (hex), creating the key file on
first use. Publish it, with the collector's role, in the network
configuration phones use: they seal each report share to it.`, stderr)
	load := keyCommandFlags(fset, "analytics.key_file")
	if code, ok := parseFlags(fset, args); !ok {
		return code
	}
	c, err := load()
	if err != nil {
		return fail(stderr, "analytics-key", err)
	}
	_, pub, _, err := loadOrCreateBoxKey(c.dataPath(c.Analytics.KeyFile))
	if err != nil {
		return fail(stderr, "analytics-key", err)
	}
	fmt.Fprintln(stdout, hex.EncodeToString(pub[:]))
	return exitOK
}
