package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// envDataDir names the environment variable that overrides the default
// data directory.
const envDataDir = "IMIGEE_DATA_DIR"

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// env is what every command gets: its arguments and the standard streams.
type env struct {
	args   []string
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

// command is one subcommand.
type command struct {
	name     string
	synopsis string // after "imigee "
	summary  string // one line for the command list
	about    string // the help text of "imigee help <name>"
	run      func(e *env) int
}

// commands lists the subcommands in the order a newcomer uses them.
func commands() []command {
	return []command{
		{"init", "init [-data-dir DIR] [-relay ADDR]...", "create a data directory, a device identity and a store key", aboutInit, cmdInit},
		{"run", "run [-data-dir DIR] [flags]", "start this device's node (keep it running; the other commands talk to it)", aboutRun, cmdRun},
		{"id", "id [-data-dir DIR]", "print this device's friend ID", aboutID, cmdID},
		{"invite", "invite [-data-dir DIR] [-no-qr]", "print a one-time invite (text and QR code) for a friend to link with", aboutInvite, cmdInvite},
		{"link", "link [-data-dir DIR] INVITE", "become friends by answering a friend's invite", aboutLink, cmdLink},
		{"friends", "friends [-data-dir DIR]", "list friends with their safety numbers and precision", aboutFriends, cmdFriends},
		{"locate", "locate [-data-dir DIR] LAT LNG [ACCURACY-M] | locate off", "tell the node where this device is (desktops have no GPS)", aboutLocate, cmdLocate},
		{"share", "share [-data-dir DIR] [-to FRIEND]... [-video] [-wait DUR] FILE | share -taken-while-with FRIEND|-auto PHOTO...", "share a photo or video with friends", aboutShare, cmdShare},
		{"inbox", "inbox [-data-dir DIR]", "list items friends offered or sent you, and your outbox", aboutInbox, cmdInbox},
		{"accept", "accept [-data-dir DIR] ITEM", "accept an offered item (the transfer starts)", aboutAccept, cmdDecide(true)},
		{"reject", "reject [-data-dir DIR] ITEM", "decline an offered item", aboutReject, cmdDecide(false)},
		{"like", "like [-data-dir DIR] FRIEND ITEM", "like an item you shared with, or got from, a friend", aboutLike, cmdLike},
		{"message", "message [-data-dir DIR] FRIEND TEXT...", "send a friend a text message", aboutMessage, cmdMessage},
		{"precision", "precision [-data-dir DIR] FRIEND close|casual|off", "set how finely a friend can find you", aboutPrecision, cmdPrecision},
		{"auto-accept", "auto-accept [-data-dir DIR] FRIEND on|off", "accept everything a friend shares without asking", aboutAutoAccept, cmdAutoAccept},
		{"policy", "policy [-data-dir DIR] ask|nearby|together|together-auto", "choose who gets shares made without -to", aboutPolicy, cmdPolicy},
		{"meetings", "meetings [-data-dir DIR] [-since DURATION]", "list when friends were with you (live, or found after the fact)", aboutMeetings, cmdMeetings},
		{"proposals", "proposals [-data-dir DIR] [accept|dismiss PROPOSAL]", "photos taken while with a friend, proposed for sharing", aboutProposals, cmdProposals},
		{"network", "network [-data-dir DIR] none|wifi|cellular", "tell the node the network changed (none: no reception)", aboutNetwork, cmdNetwork},
		{"quiet", "quiet [-data-dir DIR] [LAT LNG RADIUS-M | remove ZONE]", "list, add or remove quiet zones: places where you are never announced", aboutQuiet, cmdQuiet},
		{"handle", "handle [-data-dir DIR] set HANDLE...", "claim your phone number and handles (kept on this device)", aboutHandle, cmdHandle},
		{"contacts", "contacts [-data-dir DIR] import FILE.vcf | sync", "find friends among your contacts (mutual, blinded)", aboutContacts, cmdContacts},
		{"matches", "matches [-data-dir DIR]", "list link proposals from your contacts", aboutMatches, cmdMatches},
		{"accept-match", "accept-match [-data-dir DIR] MATCH", "accept a link proposal", aboutAcceptMatch, cmdAnswerMatch(true)},
		{"reject-match", "reject-match [-data-dir DIR] MATCH", "decline a link proposal", aboutAcceptMatch, cmdAnswerMatch(false)},
		{"analytics", "analytics [-data-dir DIR] show", "show what today's anonymous analytics report would contain", aboutAnalytics, cmdAnalytics},
		{"forget", "forget [-data-dir DIR] [-yes]", "erase this identity from every relay and wipe the data directory", aboutForget, cmdForget},
	}
}

// realMain dispatches to a subcommand and returns the exit code.
func realMain(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		usage(stdout)
		return exitOK
	case "help":
		if len(args) < 2 {
			usage(stdout)
			return exitOK
		}
		c, ok := findCommand(args[1])
		if !ok {
			fmt.Fprintf(stderr, "imigee: unknown command %q\n", args[1])
			return exitUsage
		}
		// A command given -h prints its help (to "stderr", here stdout).
		c.run(&env{args: []string{"-h"}, stdin: stdin, stdout: stdout, stderr: stdout})
		return exitOK
	}
	c, ok := findCommand(name)
	if !ok {
		fmt.Fprintf(stderr, "imigee: unknown command %q\n\n", name)
		usage(stderr)
		return exitUsage
	}
	return c.run(&env{args: args[1:], stdin: stdin, stdout: stdout, stderr: stderr})
}

func findCommand(name string) (command, bool) {
	for _, c := range commands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

func usage(w io.Writer) {
	fmt.Fprint(w, `imigee shares photos, videos and messages with friends who are at the same
place at the same time: end-to-end encrypted, and no server learns where
anyone is. This is the desktop node.

Usage:
  imigee <command> [flags] [arguments]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-12s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(w, `
Getting started:
  imigee init -relay /ip4/203.0.113.7/udp/4001/quic-v1/p2p/12D3Koo...
  imigee run &                  # the node; other commands talk to it
  imigee invite                 # show a friend the QR code or the text
  imigee link imigee1:...       # (on the friend's device)
  imigee locate 52.5200 13.4050 # where you are now
  imigee share photo.jpg -to 3fa2c1d0

Every command takes -data-dir DIR (default $%s, else ~/.imigee).
"imigee help <command>" explains a command. "make demo" shows it all on
one machine.
`, envDataDir)
}

// newFlagSet returns the FlagSet of command name with the common
// -data-dir and -json flags; errors are reported, not exited on.
func newFlagSet(e *env, name string) (*flag.FlagSet, *commonFlags) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	c, _ := findCommand(name)
	fs.Usage = usageFunc(c, fs, e.stderr)
	cf := &commonFlags{}
	fs.StringVar(&cf.dataDir, "data-dir", defaultDataDir(), "the node's data `directory`")
	fs.BoolVar(&cf.json, "json", false, "print machine-readable JSON instead of text")
	return fs, cf
}

func usageFunc(c command, fs *flag.FlagSet, w io.Writer) func() {
	return func() {
		fmt.Fprintf(w, "Usage: imigee %s\n\n%s\n\nFlags:\n", c.synopsis, strings.TrimSpace(c.about))
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

// commonFlags are the flags of every command.
type commonFlags struct {
	dataDir string
	json    bool
}

// parseFlags parses args, allowing flags after positional arguments
// ("share photo.jpg -to bob"), and maps -h and errors to exit codes. ok is
// false when the caller should return code.
func parseFlags(fs *flag.FlagSet, args []string, minArgs, maxArgs int) (pos []string, code int, ok bool) {
	rest := args
	for {
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitUsage, false
		}
		rest = fs.Args()
		if len(rest) == 0 {
			break
		}
		if rest[0] == "--" {
			pos = append(pos, rest[1:]...)
			break
		}
		pos = append(pos, rest[0])
		rest = rest[1:]
	}
	if len(pos) < minArgs || (maxArgs >= 0 && len(pos) > maxArgs) {
		fmt.Fprintf(fs.Output(), "imigee %s: wrong number of arguments\n\n", fs.Name())
		fs.Usage()
		return nil, exitUsage, false
	}
	return pos, 0, true
}

// defaultDataDir is $IMIGEE_DATA_DIR, else ~/.imigee, else ./imigee-data.
func defaultDataDir() string {
	if d := os.Getenv(envDataDir); d != "" {
		return d
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".imigee")
	}
	return "imigee-data"
}

// stringList is a repeatable string flag; commas also separate values.
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

func fail(e *env, cmd string, err error) int {
	fmt.Fprintf(e.stderr, "imigee %s: %v\n", cmd, err)
	return exitFail
}
