package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"init", "write a commented default config and a new identity key", cmdInit},
		{"run", "start the relay (works without a config file)", cmdRun},
		{"version", "print the version and exit", cmdVersion},
		{"healthcheck", "exit 0 if the relay's admin /healthz answers OK (for Docker)", cmdHealthcheck},
		{"contacts-key", "print the contact-matching OPRF public key to publish", cmdContactsKey},
		{"analytics-key", "print the analytics collector public key to publish", cmdAnalyticsKey},
		{"compact", "rewrite the database file to reclaim disk (relay must be stopped)", cmdCompact},
	}
}

// realMain dispatches to a subcommand and returns the exit code.
func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "-version", "--version":
		name = "version"
	}
	for _, c := range commands() {
		if c.name == name {
			return c.run(args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "imigee-relay: unknown command %q\n\n", name)
	usage(stderr)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprint(w, `imigee-relay keeps sealed mailboxes for offline Imigee devices, runs the
proximity rendezvous and helps devices behind NAT reach each other. It never
sees content, senders or locations.

Usage:
  imigee-relay <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Quick start:
  imigee-relay run                        # defaults, state in ./imigee-relay-data
  imigee-relay init -data-dir /var/lib/imigee-relay
  imigee-relay run -config /var/lib/imigee-relay/imigee-relay.toml

"imigee-relay <command> -h" shows a command's flags. Operator guide: docs/relay.md
`)
}

// newFlagSet returns a FlagSet that prints its usage with a heading and
// reports errors (not exits) so tests can call realMain.
func newFlagSet(name, synopsis, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: imigee-relay %s\n\n%s\n\nFlags:\n", synopsis, strings.TrimSpace(about))
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and maps -h and errors to exit codes. ok is false
// when the caller should return code.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitUsage, false
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(fs.Output(), "imigee-relay %s: unexpected argument %q\n", fs.Name(), fs.Arg(0))
		return exitUsage, false
	}
	return 0, true
}

// stringList is a repeatable string flag (-listen a -listen b). Commas
// also separate values, so "-listen a,b" works too.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// flagWasSet reports whether the named flag appeared on the command line,
// so only explicit flags override the config file.
func flagWasSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func fail(stderr io.Writer, cmd string, err error) int {
	fmt.Fprintf(stderr, "imigee-relay %s: %v\n", cmd, err)
	return exitFail
}
