package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// configFileMode: the config holds no secrets, but nobody else needs it.
const configFileMode = 0o600

func cmdInit(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("init", "init [-data-dir DIR] [-config FILE] [-force] [-print]", `
Prepare a relay: create the data directory (mode 0700), a new libp2p identity
key in it (mode 0600; an existing key is kept, never replaced) and a config
file with every option at its default and a comment saying why. Then start
it with: imigee-relay run -config FILE`, stderr)
	dataDir := fset.String("data-dir", defaultDataDir(), "`directory` for the database, identity and relay.addrs")
	cfgPath := fset.String("config", "", "where to write the config `file` (default DATA-DIR/"+defaultConfigName+")")
	force := fset.Bool("force", false, "overwrite an existing config file (the identity key is never overwritten)")
	printOnly := fset.Bool("print", false, "print the default config to stdout and write nothing")
	if code, ok := parseFlags(fset, args); !ok {
		return code
	}
	c := defaultFileConfig()
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return fail(stderr, "init", err)
	}
	c.DataDir = dir
	text, _, err := renderConfig(c)
	if err != nil {
		return fail(stderr, "init", err)
	}
	if *printOnly {
		_, _ = stdout.Write(text)
		return exitOK
	}
	out := *cfgPath
	if out == "" {
		out = filepath.Join(dir, defaultConfigName)
	}
	if _, err := os.Stat(out); err == nil && !*force {
		return fail(stderr, "init", fmt.Errorf("%s exists; pass -force to overwrite it", out))
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(stderr, "init", err)
	}
	if err := ensureDataDir(dir); err != nil {
		return fail(stderr, "init", err)
	}
	key, created, err := loadOrCreateIdentity(c.identityPath())
	if err != nil {
		return fail(stderr, "init", err)
	}
	id, err := peerIDOf(key)
	if err != nil {
		return fail(stderr, "init", err)
	}
	if err := os.MkdirAll(filepath.Dir(out), dataDirMode); err != nil {
		return fail(stderr, "init", err)
	}
	if err := writeFileAtomic(out, text, configFileMode); err != nil {
		return fail(stderr, "init", fmt.Errorf("write config: %w", err))
	}
	verb := "kept existing"
	if created {
		verb = "created"
	}
	fmt.Fprintf(stdout, "peer_id %s\n", id)
	fmt.Fprintf(stderr, "imigee-relay: %s identity %s\n", verb, c.identityPath())
	fmt.Fprintf(stderr, "imigee-relay: wrote config %s\n", out)
	fmt.Fprintf(stderr, "imigee-relay: start with: imigee-relay run -config %s\n", out)
	return exitOK
}
