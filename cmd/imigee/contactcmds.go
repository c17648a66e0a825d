package main

// Contact matching from the command line: claim handles, import a vCard
// address book, sync it, list and answer link proposals. The daemon keeps
// the imported book in DATA-DIR/contacts.json (mode 0600, on this device
// only) so `contacts sync` can run again without the file.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/imigee/imigee/node"
	"github.com/imigee/imigee/node/contacts"
)

const bookFile = "contacts.json"

type (
	handlesResult struct {
		Handles []string `json:"handles"`
	}
	syncResult struct {
		node.ContactSyncResult
		Skipped int `json:"skipped,omitempty"`
	}
	matchesResult struct {
		Matches []node.ContactMatch `json:"matches"`
	}
	matchStateResult struct {
		Match string `json:"match"`
		State string `json:"state"`
	}
)

const aboutHandle = `
Claim the handles friends know you by, replacing the previous set: a phone
number ("+33 6 12 34 56 78", or national with -region at run) and handles
such as x:@name, mastodon:@name@host, email:you@example.org. They stay on
this device; only blinded values derived from pairs of handles leave it.`

func cmdHandle(e *env) int {
	var r handlesResult
	return simple(e, "handle", 1, node.MaxOwnHandles+1, func(pos []string) (*request, error) {
		if pos[0] != "set" || len(pos) < 2 {
			return nil, errors.New("usage: imigee handle set HANDLE...")
		}
		return &request{Cmd: "handle-set", To: pos[1:]}, nil
	}, &r, func() { fmt.Fprintln(e.stdout, strings.Join(r.Handles, "\n")) })
}

const aboutContacts = `
"contacts import FILE.vcf" reads a vCard address book (phone numbers, email
addresses, X-SOCIALPROFILE handles) and matches it; "contacts sync" matches
the last imported book again (new contacts are evaluated, removed ones
withdrawn, and proposals from friends who added you since appear). Only
friends who hold one of your handles, and whose handle you hold, are
proposed: see "imigee matches".`

func cmdContacts(e *env) int {
	var r syncResult
	return simple(e, "contacts", 1, 2, func(pos []string) (*request, error) {
		switch {
		case pos[0] == "import" && len(pos) == 2:
			p, err := filepath.Abs(pos[1])
			return &request{Cmd: "contacts-import", Path: p}, err
		case pos[0] == "sync" && len(pos) == 1:
			return &request{Cmd: "contacts-sync"}, nil
		}
		return nil, errors.New("usage: imigee contacts import FILE.vcf | imigee contacts sync")
	}, &r, func() {
		fmt.Fprintf(e.stdout, "%d contacts, %d pairs (%d evaluated), %d new proposals, %d linked, %d withdrawn\n",
			r.Contacts, r.Pairs, r.Evaluated, r.NewMatches, r.Linked, r.Withdrawn)
	})
}

const aboutMatches = `
List link proposals from contact matching: the contact's name and handle as
your address book has them, their device ID and state (proposed, accepted,
linked, rejected). Answer with accept-match or reject-match.`

func cmdMatches(e *env) int {
	var r matchesResult
	return simple(e, "matches", 0, 0, func([]string) (*request, error) { return &request{Cmd: "matches"}, nil }, &r, func() {
		if len(r.Matches) == 0 {
			fmt.Fprintln(e.stdout, "No proposals: imigee contacts import FILE.vcf, then contacts sync later.")
		}
		for _, m := range r.Matches {
			fmt.Fprintf(e.stdout, "%s  %-9s %s (%s) device %s\n", m.ID, m.State, m.Name, m.Handle, short(m.FriendID))
		}
	})
}

const aboutAcceptMatch = `
Accept a link proposal. The link completes once the other side accepts too
(state linked, and friend_linked), at this call or at a later contacts sync.`

func cmdAnswerMatch(accept bool) func(*env) int {
	name := "accept-match"
	if !accept {
		name = "reject-match"
	}
	return func(e *env) int {
		var r matchStateResult
		return simple(e, name, 1, 1, func(pos []string) (*request, error) { return &request{Cmd: name, Item: pos[0]}, nil }, &r,
			func() { fmt.Fprintf(e.stdout, "%s %s\n", r.Match, r.State) })
	}
}

// handleContacts answers the contact requests of the control socket.
func (d *daemon) handleContacts(ctx context.Context, r *request) (any, bool, error) {
	switch r.Cmd {
	case "handle-set":
		if err := d.n.SetHandles(r.To); err != nil {
			return nil, true, err
		}
		hs, err := d.n.Handles()
		return handlesResult{Handles: hs}, true, err
	case "contacts-import":
		f, err := os.Open(r.Path)
		if err != nil {
			return nil, true, err
		}
		book, skipped, err := contacts.ReadVCards(f, d.region)
		f.Close()
		if err != nil {
			return nil, true, err
		}
		b, _ := json.Marshal(book)
		if err := os.WriteFile(filepath.Join(d.dataDir, bookFile), b, 0o600); err != nil {
			return nil, true, err
		}
		res, err := d.syncBook(ctx, book)
		return syncResult{ContactSyncResult: res, Skipped: skipped}, true, err
	case "contacts-sync":
		var book []node.Contact
		b, err := os.ReadFile(filepath.Join(d.dataDir, bookFile))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, true, err
		}
		if len(b) > 0 {
			if err := json.Unmarshal(b, &book); err != nil {
				return nil, true, err
			}
		}
		res, err := d.syncBook(ctx, book)
		return syncResult{ContactSyncResult: res}, true, err
	case "matches":
		ms, err := d.n.ContactMatches()
		return matchesResult{Matches: ms}, true, err
	case "accept-match":
		ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		st, err := d.n.AcceptMatch(ctx, r.Item)
		return matchStateResult{Match: r.Item, State: st}, true, err
	case "reject-match":
		err := d.n.RejectMatch(ctx, r.Item)
		return matchStateResult{Match: r.Item, State: node.MatchRejected}, true, err
	}
	return nil, false, nil
}

func (d *daemon) syncBook(ctx context.Context, book []node.Contact) (node.ContactSyncResult, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	return d.n.SyncContacts(ctx, book)
}
