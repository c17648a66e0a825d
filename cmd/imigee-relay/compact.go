package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/imigee/imigee/relay"
	"github.com/imigee/imigee/relay/store"
)

func cmdCompact(args []string, stdout, stderr io.Writer) int {
	fset := newFlagSet("compact", "compact [-config FILE | -data-dir DIR] [-o FILE]", `
Rewrite the mailbox database into a new file that holds only live data, to
give disk back after a burst of traffic (bbolt files never shrink on their
own; free pages are reused by later writes). The relay must be stopped: the
database is locked while it runs, and compact fails after a few seconds if
it cannot get the lock (10 s).

Without -o the compacted copy is checked and then atomically replaces the
original (needs free disk for one copy). With -o the original is left alone
and the copy is written to FILE: a consistent backup.`, stderr)
	cfgPath := fset.String("config", "", "config `file` to read data_dir from")
	dataDir := fset.String("data-dir", "", "data `directory` holding "+relay.StoreFile+" (overrides the config)")
	out := fset.String("o", "", "write the compacted copy to this `file` instead of replacing the database")
	if code, ok := parseFlags(fset, args); !ok {
		return code
	}
	c := defaultFileConfig()
	if *cfgPath != "" {
		var err error
		if c, err = loadConfigFile(*cfgPath); err != nil {
			return fail(stderr, "compact", err)
		}
	}
	if flagWasSet(fset, "data-dir") {
		c.DataDir = *dataDir
	}
	src := filepath.Join(c.DataDir, relay.StoreFile)
	before, err := os.Stat(src)
	if err != nil {
		return fail(stderr, "compact", fmt.Errorf("database: %w", err))
	}
	dst := *out
	replace := dst == ""
	if replace {
		dst = src + ".compact"
		// A leftover from an interrupted compact is garbage: the original
		// was never replaced.
		if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fail(stderr, "compact", err)
		}
	}
	if err := store.Compact(src, dst); err != nil {
		return fail(stderr, "compact", err)
	}
	after, err := os.Stat(dst)
	if err != nil {
		return fail(stderr, "compact", err)
	}
	if replace {
		if err := os.Rename(dst, src); err != nil {
			return fail(stderr, "compact", fmt.Errorf("replace database: %w", err))
		}
		syncDir(filepath.Dir(src))
		dst = src
	}
	fmt.Fprintf(stdout, "compacted %s: %d → %d bytes\n", dst, before.Size(), after.Size())
	return exitOK
}
