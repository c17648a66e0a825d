package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"

	"github.com/imigee/imigee/node"
)

// Results of control requests (the "result" of a response).
type (
	idResult struct {
		ID string `json:"id"`
	}
	inviteResult struct {
		Invite string `json:"invite"`
	}
	linkResult struct {
		Friend       string `json:"friend"`
		SafetyNumber string `json:"safety_number"`
	}
	friendResult struct {
		ID           string `json:"id"`
		SafetyNumber string `json:"safety_number"`
		Precision    string `json:"precision"`
		AutoAccept   bool   `json:"auto_accept"`
		Nearby       bool   `json:"nearby"`
		Linked       int64  `json:"linked"`
	}
	itemResult struct {
		Item string   `json:"item"`
		To   []string `json:"to,omitempty"`
		Size int64    `json:"size,omitempty"`
	}
	inboxResult struct {
		Inbox  []itemJSON `json:"inbox"`
		Outbox []itemJSON `json:"outbox"`
	}
	itemJSON struct {
		ID      string   `json:"id"`
		Friend  string   `json:"friend,omitempty"`
		To      []string `json:"to,omitempty"`
		Type    string   `json:"type"`
		Text    string   `json:"text,omitempty"`
		Path    string   `json:"path,omitempty"`
		Size    int64    `json:"size,omitempty"`
		Done    int64    `json:"done,omitempty"`
		State   string   `json:"state"`
		Created int64    `json:"created"`
		Taken   int64    `json:"taken,omitempty"` // capture time, unix seconds (photos and videos)
		// Recipients: outbox only, friend ID → state (pending,
		// queued_at_relay, delivered, rejected, failed).
		Recipients map[string]string `json:"recipients,omitempty"`
	}
	zoneResult struct {
		Zone string `json:"zone"`
	}
	zoneInfo struct {
		Zone   string  `json:"zone"`
		Lat    float64 `json:"lat"`
		Lng    float64 `json:"lng"`
		Radius float64 `json:"radius"`
	}
	forgetResult struct {
		RelayError string `json:"relay_error,omitempty"`
	}
)

// handle answers one control request.
func (d *daemon) handle(ctx context.Context, r *request) (any, error) {
	select {
	case <-d.forgot:
		return nil, errForgotten
	default:
	}
	n := d.n
	if res, ok, err := d.handleContacts(ctx, r); ok {
		return res, err
	}
	if res, ok, err := d.handleTogether(ctx, r); ok {
		return res, err
	}
	switch r.Cmd {
	case "analytics-show":
		pv := n.AnalyticsPreview()
		return analyticsResult{Enabled: pv != nil, Today: pv}, nil
	case "id":
		return idResult{ID: n.ID()}, nil
	case "invite":
		s, err := n.Invite()
		return inviteResult{Invite: s}, err
	case "link":
		id, err := n.Link(ctx, strings.TrimSpace(r.Text))
		if err != nil {
			return nil, err
		}
		sn, _ := n.SafetyNumber(id)
		if d.autoAcc {
			_ = n.SetAutoAccept(id, true)
		}
		return linkResult{Friend: id, SafetyNumber: sn}, nil
	case "friends":
		fs := n.Friends()
		sort.Slice(fs, func(i, j int) bool {
			return fs[i].Linked < fs[j].Linked || fs[i].Linked == fs[j].Linked && fs[i].ID < fs[j].ID
		})
		out := make([]friendResult, 0, len(fs))
		for _, f := range fs {
			out = append(out, friendResult{ID: f.ID, SafetyNumber: f.SafetyCheck, Precision: f.Precision.String(),
				AutoAccept: f.AutoAccept, Nearby: f.Nearby, Linked: f.Linked})
		}
		return out, nil
	case "locate":
		if r.Value == "off" {
			n.ClearLocation()
			return nil, nil
		}
		return nil, n.SetLocation(r.Lat, r.Lng, r.Accuracy)
	case "quiet":
		id, err := n.AddQuietZone(r.Lat, r.Lng, r.Radius)
		return zoneResult{Zone: id}, err
	case "quiet-list":
		out := []zoneInfo{}
		for _, z := range n.QuietZones() {
			out = append(out, zoneInfo{Zone: z.ID, Lat: z.Lat, Lng: z.Lng, Radius: z.RadiusMeters})
		}
		return out, nil
	case "quiet-remove":
		for _, z := range n.QuietZones() {
			if z.ID == r.Value {
				n.RemoveQuietZone(z.ID)
				return nil, nil
			}
		}
		return nil, fmt.Errorf("no quiet zone %q (imigee quiet lists them)", r.Value)
	case "share":
		return d.share(r)
	case "inbox":
		return d.inbox(), nil
	case "accept", "reject":
		id, err := d.resolveItem(r.Item, false)
		if err != nil {
			return nil, err
		}
		if r.Cmd == "accept" {
			err = n.Accept(id)
		} else {
			err = n.Reject(id)
		}
		return itemResult{Item: id}, err
	case "like":
		f, err := d.resolveFriend(r.Friend)
		if err != nil {
			return nil, err
		}
		item, err := d.resolveItem(r.Item, true)
		if err != nil {
			return nil, err
		}
		id, err := n.Like(f, item)
		return itemResult{Item: id, To: []string{f}}, err
	case "message":
		f, err := d.resolveFriend(r.Friend)
		if err != nil {
			return nil, err
		}
		id, err := n.SendMessage(f, r.Text)
		return itemResult{Item: id, To: []string{f}}, err
	case "precision":
		f, err := d.resolveFriend(r.Friend)
		if err != nil {
			return nil, err
		}
		p, err := node.ParsePrecision(r.Value)
		if err != nil {
			return nil, errors.New("precision must be close, casual or off")
		}
		return nil, n.SetPrecision(f, p)
	case "auto-accept":
		f, err := d.resolveFriend(r.Friend)
		if err != nil {
			return nil, err
		}
		return nil, n.SetAutoAccept(f, r.Value == "on")
	case "policy":
		switch r.Value {
		case node.ShareAsk, node.ShareNearby, node.ShareTogether:
			return nil, n.SetSharePolicy(node.SharePolicy{Mode: r.Value})
		case node.ShareTogether + "-auto":
			return nil, n.SetSharePolicy(node.SharePolicy{Mode: node.ShareTogether, Auto: true})
		}
		return nil, errors.New("policy must be ask, nearby, together or together-auto")
	case "forget":
		return d.forget(ctx)
	}
	return nil, fmt.Errorf("unknown command %q", r.Cmd)
}

func (d *daemon) share(r *request) (any, error) {
	if !filepath.IsAbs(r.Path) {
		return nil, errors.New("share needs an absolute file path")
	}
	var to []string
	for _, s := range r.To {
		f, err := d.resolveFriend(s)
		if err != nil {
			return nil, err
		}
		to = append(to, f)
	}
	share := d.n.SharePhoto
	if r.Video {
		share = d.n.ShareVideo
	}
	if r.Taken > 0 && r.Taken <= time.Now().Add(node.MaxTakenSkew).Unix() {
		taken := d.n.SharePhotoTaken
		if r.Video {
			taken = d.n.ShareVideoTaken
		}
		share = func(path string, to []string) (string, error) { return taken(path, r.Taken, to) }
	}
	id, err := share(r.Path, to)
	if errors.Is(err, node.ErrNoRecipients) {
		return nil, errors.New("nobody to share with: name friends with -to, or set \"imigee policy nearby\" and be near a friend")
	}
	if err != nil {
		return nil, err
	}
	res := itemResult{Item: id, To: to}
	for _, p := range d.n.Pending() {
		if p.ID == id {
			res.To, res.Size = p.To, p.Size
		}
	}
	sort.Strings(res.To)
	return res, nil
}

func (d *daemon) inbox() inboxResult {
	conv := func(it node.Item) itemJSON {
		j := itemJSON{ID: it.ID, Friend: it.FriendID, To: it.To, Type: it.Type, Text: it.Text, Path: it.Path,
			Size: it.Size, Done: it.Done, State: it.State, Created: it.Created, Taken: it.Taken}
		for _, r := range it.Recipients {
			if j.Recipients == nil {
				j.Recipients = map[string]string{}
			}
			j.Recipients[r.FriendID] = r.State
		}
		return j
	}
	res := inboxResult{Inbox: []itemJSON{}, Outbox: []itemJSON{}}
	for _, it := range d.n.Inbox() {
		res.Inbox = append(res.Inbox, conv(it))
	}
	for _, it := range d.n.Pending() {
		res.Outbox = append(res.Outbox, conv(it))
	}
	byTime := func(s []itemJSON) {
		sort.Slice(s, func(i, j int) bool {
			return s[i].Created < s[j].Created || s[i].Created == s[j].Created && s[i].ID < s[j].ID
		})
	}
	byTime(res.Inbox)
	byTime(res.Outbox)
	return res
}

// forget erases the identity at every relay and wipes the store, then
// removes the key and relay files and tells run to exit.
func (d *daemon) forget(ctx context.Context) (any, error) {
	err := d.n.Forget(ctx)
	var res forgetResult
	if err != nil {
		if errors.Is(err, node.ErrForgetRelay) {
			res.RelayError = err.Error()
		} else {
			return nil, err
		}
	}
	for _, f := range []string{keyFile, relaysFile} {
		if rerr := os.Remove(filepath.Join(d.dataDir, f)); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			return nil, rerr
		}
	}
	d.once.Do(func() { close(d.forgot) })
	return res, nil
}

// minPrefix is the shortest ID prefix accepted in place of a full ID.
const minPrefix = 4

// resolveFriend maps a friend ID or unique prefix to the full ID.
func (d *daemon) resolveFriend(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	var ids []string
	for _, f := range d.n.Friends() {
		ids = append(ids, f.ID)
	}
	id, err := resolve(s, ids)
	if err != nil {
		return "", fmt.Errorf("friend %q: %w", s, err)
	}
	return id, nil
}

// resolveItem maps an item ID or unique prefix (among the inbox and the
// outbox) to the full ID. With anyFull, a full-length ID not in either list
// is passed through (a like may name an item already delivered).
func (d *daemon) resolveItem(s string, anyFull bool) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	var ids []string
	for _, it := range d.n.Inbox() {
		ids = append(ids, it.ID)
	}
	for _, it := range d.n.Pending() {
		ids = append(ids, it.ID)
	}
	id, err := resolve(s, ids)
	if err != nil && anyFull && len(s) == 32 {
		return s, nil
	}
	if err != nil {
		return "", fmt.Errorf("item %q: %w", s, err)
	}
	return id, nil
}

var (
	errNoMatch  = errors.New("no such ID (see imigee friends / imigee inbox)")
	errAmbiguus = errors.New("prefix matches more than one ID; type more of it")
	errTooShort = fmt.Errorf("give at least %d characters of the ID", minPrefix)
)

func resolve(s string, ids []string) (string, error) {
	for _, id := range ids {
		if id == s {
			return id, nil
		}
	}
	if len(s) < minPrefix {
		return "", errTooShort
	}
	var found string
	for _, id := range ids {
		if strings.HasPrefix(id, s) {
			if found != "" && found != id {
				return "", errAmbiguus
			}
			found = id
		}
	}
	if found == "" {
		return "", errNoMatch
	}
	return found, nil
}

// parseRelayList checks relay multiaddrs (each must end in /p2p/<id>).
func parseRelayList(addrs []string) ([]peer.AddrInfo, error) {
	var out []peer.AddrInfo
	for _, s := range addrs {
		m, err := ma.NewMultiaddr(s)
		if err != nil {
			return nil, fmt.Errorf("relay %q: %w", s, err)
		}
		ai, err := peer.AddrInfoFromP2pAddr(m)
		if err != nil {
			return nil, fmt.Errorf("relay %q: the address must end in /p2p/<relay peer ID>", s)
		}
		out = append(out, *ai)
	}
	return out, nil
}
