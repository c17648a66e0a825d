package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/imigee/imigee/node"
	"github.com/imigee/imigee/protocol"
)

const aboutRun = `
Start this device's node and keep it running (Ctrl-C stops it). It connects
to the relays, announces you to nearby friends while it has a location (see
"imigee locate"), delivers what you share (directly, or to an offline
friend's mailbox at the relay) and receives what friends share.

While it runs, the other commands (invite, share, inbox, ...) talk to it
through a control socket in the data directory. A desktop counts as "app
open": the node announces as soon as it has a location.

It prints one line per event: friends linked, nearby or gone, items offered,
received and delivered, likes and messages. It never prints locations, keys
or tokens. With -json each line is a JSON object (the first is
{"event":"started","id":...}), for scripts and tests.`

// runFlags are the flags of run.
type runFlags struct {
	relays     stringList
	listen     stringList
	epoch      int
	autoAccept bool
	mdns       bool
	logLevel   string
	region     string
	anLeader   string
	anKeys     string
}

func cmdRun(e *env) int {
	fs, cf := newFlagSet(e, "run")
	var rf runFlags
	fs.Var(&rf.relays, "relay", "relay `multiaddr` ending in /p2p/<peer ID>; repeatable (default: the relays saved by init)")
	fs.Var(&rf.listen, "listen", "libp2p listen `multiaddr`; repeatable (default QUIC and TCP on all interfaces, random ports)")
	fs.IntVar(&rf.epoch, "epoch", node.DefaultEpochSeconds, fmt.Sprintf("proximity epoch in `seconds` (%d to %d; friends must use the same)", protocol.MinEpochSeconds, protocol.MaxEpochSeconds))
	fs.BoolVar(&rf.autoAccept, "auto-accept", false, "accept everything every friend shares, without asking (sets it for each friend)")
	fs.BoolVar(&rf.mdns, "mdns", false, "also find friends on the local network (mDNS)")
	fs.StringVar(&rf.logLevel, "log-level", "warn", "log `level` on stderr: debug, info, warn or error")
	fs.StringVar(&rf.anLeader, "analytics-leader", "", "turn anonymous analytics on: the leader collector's `multiaddr` (with -analytics-keys)")
	fs.StringVar(&rf.anKeys, "analytics-keys", "", "the two collectors' public keys, `LEADERHEX,HELPERHEX` (imigee-relay analytics-key on each)")
	fs.StringVar(&rf.region, "region", "", "default `country` (ISO code, e.g. FR) of phone numbers written without +")
	if _, code, ok := parseFlags(fs, e.args, 0, 0); !ok {
		return code
	}
	if rf.epoch < protocol.MinEpochSeconds || rf.epoch > protocol.MaxEpochSeconds {
		fmt.Fprintf(e.stderr, "imigee run: -epoch %d outside [%d, %d] (relays refuse other epochs)\n", rf.epoch, protocol.MinEpochSeconds, protocol.MaxEpochSeconds)
		return exitUsage
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(rf.logLevel)); err != nil {
		fmt.Fprintf(e.stderr, "imigee run: -log-level: %v\n", err)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(e.stderr, &slog.HandlerOptions{Level: lvl}))
	if err := runNode(ctx, e, cf, &rf, log); err != nil {
		return fail(e, "run", err)
	}
	return exitOK
}

// daemon is a running node with its control server and event printer.
type daemon struct {
	n       *node.Node
	dataDir string
	hub     *hub
	out     *eventPrinter
	forgot  chan struct{} // closed after a successful forget: run exits
	once    sync.Once
	autoAcc bool
	region  string // default country of phone numbers (contacts)
}

func runNode(ctx context.Context, e *env, cf *commonFlags, rf *runFlags, log *slog.Logger) error {
	key, err := readKey(cf.dataDir)
	if err != nil {
		return err
	}
	relays := []string(rf.relays)
	if len(relays) == 0 {
		if relays, err = readRelays(cf.dataDir); err != nil {
			return err
		}
	}
	if _, err := parseRelayList(relays); err != nil {
		return err
	}
	sock, err := socketPath(cf.dataDir)
	if err != nil {
		return err
	}
	ln, err := listenControl(sock)
	if err != nil {
		return err
	}
	defer os.Remove(sock)
	an, err := analyticsConfig(rf)
	if err != nil {
		return err
	}
	d := &daemon{dataDir: cf.dataDir, hub: newHub(), out: &eventPrinter{w: e.stdout, json: cf.json},
		forgot: make(chan struct{}), autoAcc: rf.autoAccept, region: rf.region}
	n, err := node.New(node.Config{
		DataDir:      cf.dataDir,
		StoreKey:     key,
		Relays:       relays,
		ListenAddrs:  rf.listen,
		EpochSeconds: rf.epoch,
		Logger:       log,
		Events:       d,
		EnableMDNS:   rf.mdns,
		Contacts:     node.ContactsConfig{Region: rf.region},
		Analytics:    an,
	})
	if err != nil {
		ln.Close()
		if errors.Is(err, node.ErrLocked) {
			return fmt.Errorf("%w (is another imigee node using %s?)", err, cf.dataDir)
		}
		return err
	}
	d.n = n
	srv := newServer(ln, d.hub, d.handle)
	defer func() {
		srv.close()
		_ = n.Close()
	}()
	if err := n.Start(ctx); err != nil {
		return err
	}
	// A desktop with "imigee run" in a terminal is an open app: announce
	// without waiting to dwell.
	n.SetAppOpen(true)
	if rf.autoAccept {
		for _, f := range n.Friends() {
			if err := n.SetAutoAccept(f.ID, true); err != nil {
				return err
			}
		}
	}
	d.out.started(n.ID(), len(n.Friends()), len(relays))
	select {
	case <-ctx.Done():
	case <-d.forgot:
	}
	return nil
}

// OnEvent implements node.EventHandler: print, fan out, and apply
// -auto-accept to newly linked friends.
func (d *daemon) OnEvent(ev *node.Event) {
	j := eventJSON{Time: time.Now().UTC().Format(time.RFC3339Nano), Event: ev.Kind, Friend: ev.FriendID,
		Item: ev.ItemID, Type: ev.Type, Text: ev.Text, Path: ev.Path, Done: ev.Done, Total: ev.Total, Err: ev.Err, Via: ev.Via, Handle: ev.Handle,
		From: ev.From, To: ev.To}
	if ev.Kind == node.EventFriendLinked && d.autoAcc && d.n != nil {
		_ = d.n.SetAutoAccept(ev.FriendID, true)
	}
	d.out.print(j)
	d.hub.publish(j)
}

// eventPrinter writes events to run's stdout, as text or JSON lines.
type eventPrinter struct {
	mu   sync.Mutex // serializes lines
	w    io.Writer
	json bool
}

func (p *eventPrinter) started(id string, friends, relays int) {
	if p.json {
		p.print(eventJSON{Time: time.Now().UTC().Format(time.RFC3339Nano), Event: "started", ID: id})
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "imigee is running. Your friend ID: %s (%d friends, %d relays)\n", id, friends, relays)
	fmt.Fprintf(p.w, "In another terminal: imigee invite | friends | locate | share | inbox. Ctrl-C stops.\n")
}

func (p *eventPrinter) print(ev eventJSON) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.json {
		b, _ := json.Marshal(ev)
		p.w.Write(append(b, '\n'))
		return
	}
	if s := describeEvent(ev); s != "" {
		fmt.Fprintf(p.w, "%s  %s\n", time.Now().Format("15:04:05"), s)
	}
}

// describeEvent renders an event for people.
func describeEvent(ev eventJSON) string {
	f, it := short(ev.Friend), short(ev.Item)
	ev.Type = oneLine(ev.Type)
	switch ev.Kind() {
	case node.EventFriendLinked:
		return fmt.Sprintf("linked with friend %s — compare safety numbers in person: imigee friends", f)
	case node.EventFriendPending:
		return fmt.Sprintf("friend %s was offline: the link request waits in their mailbox; linked once they confirm", f)
	case node.EventFriendNearby:
		return fmt.Sprintf("friend %s is nearby", f)
	case node.EventFriendGone:
		return fmt.Sprintf("friend %s is no longer nearby", f)
	case node.EventItemOffered:
		return fmt.Sprintf("friend %s offers a %s (%s), item %s — imigee accept %s | imigee reject %s", f, ev.Type, humanBytes(ev.Total), it, it, it)
	case node.EventItemReceived:
		return fmt.Sprintf("received a %s from %s: %s", ev.Type, f, ev.Path)
	case node.EventProgress:
		return fmt.Sprintf("sending %s %s to %s: %s of %s", ev.Type, it, f, humanBytes(ev.Done), humanBytes(ev.Total))
	case node.EventReceiveProgress:
		return fmt.Sprintf("receiving %s %s from %s: %s of %s", ev.Type, it, f, humanBytes(ev.Done), humanBytes(ev.Total))
	case node.EventSealing:
		return fmt.Sprintf("sealing %s %s: %s of %s", ev.Type, it, humanBytes(ev.Done), humanBytes(ev.Total))
	case node.EventDelivered:
		return fmt.Sprintf("item %s delivered to %s", it, f)
	case node.EventQueued:
		return fmt.Sprintf("friend %s is unreachable: item %s waits, sealed, in their mailbox at the relay", f, it)
	case node.EventDeliveryFailed:
		if ev.Err == node.FailRejected {
			return fmt.Sprintf("friend %s declined item %s", f, it)
		}
		return fmt.Sprintf("could not deliver item %s to %s: %s", it, f, oneLine(ev.Err))
	case node.EventLike:
		return fmt.Sprintf("friend %s likes item %s", f, short(oneLine(ev.Text)))
	case node.EventMessage:
		return fmt.Sprintf("message from %s: %s", f, oneLine(ev.Text))
	case node.EventFriendWasNearby:
		return fmt.Sprintf("friend %s was with you %s – %s (found after the fact)", f, clock(ev.From, "2006-01-02 15:04"), clock(ev.To, "15:04"))
	case node.EventShareProposed:
		return fmt.Sprintf("%s taken while %s was with you: share it? imigee proposals accept %s | imigee proposals dismiss %s", oneLine(ev.Path), f, it, it)
	case node.EventContactMatch:
		return fmt.Sprintf("your contact %s (%s) is on Imigee and has you too — imigee accept-match %s | imigee reject-match %s", oneLine(ev.Text), oneLine(ev.Handle), ev.Item, ev.Item)
	}
	return fmt.Sprintf("%s %s %s", ev.Event, f, it)
}

// Kind returns the event kind (a method so describeEvent reads well).
func (e eventJSON) Kind() string { return e.Event }

// short abbreviates an ID for people: 8 hex digits are plenty among one
// person's friends and items, and every command accepts a unique prefix.
func short(id string) string {
	if len(id) > 8 {
		return id[:8]
	}
	return id
}

// oneLine keeps text from a friend on one terminal line and free of
// control characters (no escape sequences reach the terminal).
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return ' '
		}
		return r
	}, s)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// quietLogger discards logs (for init, which only creates the store).
func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// errForgotten is what requests get after forget closed the node.
var errForgotten = errors.New("this node forgot its identity; run \"imigee init\" to start over")
