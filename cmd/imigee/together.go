package main

// Issue 10 on the desktop: meetings, shares of what was taken together,
// proposals, and the network state (to play "no reception").

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/imigee/imigee/node"
)

// Results of the together requests.
type (
	meetingJSON struct {
		Friend string `json:"friend"`
		From   int64  `json:"from"`
		To     int64  `json:"to"`
		Kind   string `json:"kind"` // live or late
	}
	togetherResult struct {
		Item string   `json:"item,omitempty"` // the share made now, if any
		To   []string `json:"to,omitempty"`
		// Skipped: -taken-while-with and no meeting with that friend is
		// known at the capture time; nothing was shared.
		Skipped bool `json:"skipped,omitempty"`
	}
	proposalJSON struct {
		ID     string `json:"id"`
		Friend string `json:"friend"`
		Path   string `json:"path"`
		Type   string `json:"type"`
		Taken  int64  `json:"taken"`
		From   int64  `json:"from"`
		To     int64  `json:"to"`
	}
)

// handleTogether answers the together requests of the control socket.
func (d *daemon) handleTogether(_ context.Context, r *request) (any, bool, error) {
	n := d.n
	switch r.Cmd {
	case "meetings":
		out := []meetingJSON{}
		for _, m := range n.Meetings(r.Since) {
			out = append(out, meetingJSON{Friend: m.FriendID, From: m.From, To: m.To, Kind: m.Kind})
		}
		return out, true, nil
	case "share-together":
		res, err := d.shareTogether(r)
		return res, true, err
	case "proposals":
		out := []proposalJSON{}
		for _, p := range n.Proposals() {
			out = append(out, proposalJSON{ID: p.ID, Friend: p.FriendID, Path: p.Path, Type: p.Type, Taken: p.Taken, From: p.From, To: p.To})
		}
		return out, true, nil
	case "proposal-accept", "proposal-dismiss":
		var ids []string
		for _, p := range n.Proposals() {
			ids = append(ids, p.ID)
		}
		id, err := resolve(strings.ToLower(strings.TrimSpace(r.Item)), ids)
		if err != nil {
			return nil, true, fmt.Errorf("proposal %q: %w", r.Item, err)
		}
		if r.Cmd == "proposal-dismiss" {
			return nil, true, n.DismissProposal(id)
		}
		item, err := n.AcceptProposal(id)
		return itemResult{Item: item}, true, err
	case "network":
		switch r.Value {
		case node.NetworkNone, node.NetworkWifi, node.NetworkCellular:
		default:
			return nil, true, errors.New("network must be none, wifi or cellular")
		}
		return nil, true, n.NetworkChanged(r.Value, r.Value == node.NetworkCellular)
	}
	return nil, false, nil
}

// shareTogether shares one photo by its capture time: with r.Friend only
// if a meeting with them is known at that time (-taken-while-with), else
// with everyone met then, now and when found later (-auto).
func (d *daemon) shareTogether(r *request) (togetherResult, error) {
	if !filepath.IsAbs(r.Path) {
		return togetherResult{}, errors.New("share needs an absolute file path")
	}
	n := d.n
	if r.Friend == "" {
		share := n.SharePhotoTogether
		if r.Video {
			share = n.ShareVideoTogether
		}
		id, err := share(r.Path, r.Taken, true)
		if err != nil {
			return togetherResult{}, err
		}
		return togetherResult{Item: id, To: d.recipientsOf(id)}, nil
	}
	f, err := d.resolveFriend(r.Friend)
	if err != nil {
		return togetherResult{}, err
	}
	met := false
	for _, m := range n.Meetings(0) {
		met = met || m.FriendID == f && m.From <= r.Taken && r.Taken < m.To
	}
	if !met {
		return togetherResult{To: []string{f}, Skipped: true}, nil
	}
	share := n.SharePhotoTaken
	if r.Video {
		share = n.ShareVideoTaken
	}
	id, err := share(r.Path, r.Taken, []string{f})
	if err != nil {
		return togetherResult{}, err
	}
	return togetherResult{Item: id, To: []string{f}}, nil
}

func (d *daemon) recipientsOf(id string) []string {
	if id == "" {
		return nil
	}
	for _, p := range d.n.Pending() {
		if p.ID == id {
			return p.To
		}
	}
	return nil
}

// cmdShareTogether is "share -taken-while-with FRIEND PHOTO..." and
// "share -auto PHOTO...".
func cmdShareTogether(e *env, cf *commonFlags, photos []string, with string, video bool) int {
	code := exitOK
	for _, p := range photos {
		path, err := filepath.Abs(p)
		if err != nil {
			code = fail(e, "share", err)
			continue
		}
		taken, src, err := captureTime(path, time.Local)
		if err != nil {
			code = fail(e, "share", err)
			continue
		}
		var r togetherResult
		req := &request{Cmd: "share-together", Path: path, Friend: with, Taken: taken.Unix(), Video: video || isVideoExt(path)}
		if err := call(cf.dataDir, req, &r); err != nil {
			code = fail(e, "share", fmt.Errorf("%s: %w", filepath.Base(path), err))
			continue
		}
		if cf.json {
			printJSON(e, struct {
				File   string `json:"file"`
				Taken  int64  `json:"taken"`
				Source string `json:"taken_from"`
				togetherResult
			}{path, taken.Unix(), src, r})
			continue
		}
		var names []string
		for _, f := range r.To {
			names = append(names, short(f))
		}
		head := fmt.Sprintf("%s, %s:", filepath.Base(path), describeTaken(taken, src))
		switch {
		case r.Skipped:
			fmt.Fprintf(e.stdout, "%s not taken while with %s (no meeting known then); skipped.\n", head, strings.Join(names, ", "))
		case r.Item != "" && with != "":
			fmt.Fprintf(e.stdout, "%s shared with %s as item %s.\n", head, strings.Join(names, ", "), short(r.Item))
		case r.Item != "":
			fmt.Fprintf(e.stdout, "%s shared with %s as item %s; friends found later to have been there get it too.\n", head, strings.Join(names, ", "), short(r.Item))
		default:
			fmt.Fprintf(e.stdout, "%s nobody known to have been with you then; it waits and is shared when such a meeting is found.\n", head)
		}
	}
	return code
}

const aboutMeetings = `
List when friends were with you: live meetings (both phones announced at the
time) and late ones (found after the fact, when a phone that had no
reception came back and the friend confirmed it). Times only: where is never
kept. -since limits the list to meetings that ended in that last DURATION.`

func cmdMeetings(e *env) int {
	fs, cf := newFlagSet(e, "meetings")
	since := fs.Duration("since", 0, "only meetings that ended within this `duration` (e.g. 24h); 0: all kept")
	if _, code, ok := parseFlags(fs, e.args, 0, 0); !ok {
		return code
	}
	req := &request{Cmd: "meetings"}
	if *since > 0 {
		req.Since = time.Now().Add(-*since).Unix()
	}
	var r []meetingJSON
	if err := call(cf.dataDir, req, &r); err != nil {
		return fail(e, "meetings", err)
	}
	if cf.json {
		return printJSON(e, r)
	}
	if len(r) == 0 {
		fmt.Fprintln(e.stdout, "No meetings.")
		return exitOK
	}
	sort.Slice(r, func(i, j int) bool { return r[i].From < r[j].From })
	for _, m := range r {
		fmt.Fprintf(e.stdout, "%s  %s – %s  %s\n", short(m.Friend), clock(m.From, "2006-01-02 15:04"), clock(m.To, "15:04"), m.Kind)
	}
	return exitOK
}

func clock(unix int64, layout string) string { return time.Unix(unix, 0).Format(layout) }

const aboutProposals = `
With "imigee policy together", a photo shared without -to waits for meetings
at the time it was taken; when a friend turns out (after the fact) to have
been with you then, sharing it with them is proposed here rather than done.

  imigee proposals                    list them
  imigee proposals accept PROPOSAL    share that photo with that friend
  imigee proposals dismiss PROPOSAL   never propose it to that friend again`

func cmdProposals(e *env) int {
	var list []proposalJSON
	var item itemResult
	var out any = &list
	show := func() {
		if len(list) == 0 {
			fmt.Fprintln(e.stdout, "No proposals.")
		}
		for _, p := range list {
			fmt.Fprintf(e.stdout, "%s  %s taken %s while with %s  %s\n", short(p.ID), oneLine(p.Type), clock(p.Taken, "2006-01-02 15:04"), short(p.Friend), p.Path)
		}
	}
	return simple(e, "proposals", 0, 2, func(pos []string) (*request, error) {
		switch {
		case len(pos) == 0:
			return &request{Cmd: "proposals"}, nil
		case len(pos) == 2 && pos[0] == "accept":
			out = &item
			show = func() { fmt.Fprintf(e.stdout, "Shared as item %s.\n", short(item.Item)) }
			return &request{Cmd: "proposal-accept", Item: pos[1]}, nil
		case len(pos) == 2 && pos[0] == "dismiss":
			out = &map[string]bool{"ok": true}
			show = func() { fmt.Fprintln(e.stdout, "Dismissed.") }
			return &request{Cmd: "proposal-dismiss", Item: pos[1]}, nil
		}
		return nil, fmt.Errorf("want nothing, \"accept PROPOSAL\" or \"dismiss PROPOSAL\"")
	}, &out, func() { show() })
}

const aboutNetwork = `
Tell the node the device's network changed, as a phone's OS does: "none"
takes it offline (no relay, no dialing; it still keeps its own history of
where it would have announced, as times and cells only on this device), and
"wifi" or "cellular" brings it back, after which it announces the epochs it
missed so meetings that happened meanwhile are found after the fact.`

func cmdNetwork(e *env) int {
	var kind string
	return simple(e, "network", 1, 1, func(pos []string) (*request, error) {
		switch kind = pos[0]; kind {
		case node.NetworkNone, node.NetworkWifi, node.NetworkCellular:
			return &request{Cmd: "network", Value: kind}, nil
		}
		return nil, fmt.Errorf("say none, wifi or cellular")
	}, nil, func() { fmt.Fprintf(e.stdout, "Network: %s.\n", kind) })
}
