package mobile

// Contact matching and anonymous analytics through the facade (node's
// contactmatch.go and analyticsglue.go). Lists cross as JSON strings.

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/imigee/imigee/node"
)

func contactsConfig(cfg *Config, c *node.Config) error {
	c.Contacts = node.ContactsConfig{Region: cfg.ContactsRegion, AutoAccept: cfg.ContactsAutoAccept}
	if cfg.ContactsNetworkJSON != "" {
		var net struct {
			Chain []struct {
				Relay     string `json:"relay"`
				PublicKey string `json:"public_key"`
			} `json:"chain"`
			Directory []string `json:"directory"`
		}
		if err := json.Unmarshal([]byte(cfg.ContactsNetworkJSON), &net); err != nil {
			return errCode(CodeBadArgument, "mobile: ContactsNetworkJSON: "+err.Error())
		}
		for _, st := range net.Chain {
			k, err := hex.DecodeString(st.PublicKey)
			if err != nil || len(k) != 32 {
				return errCode(CodeBadArgument, "mobile: ContactsNetworkJSON: a public key is not 32 bytes of hex")
			}
			c.Contacts.Chain = append(c.Contacts.Chain, node.ContactStage{Relay: st.Relay, PublicKey: k})
		}
		c.Contacts.Directory = net.Directory
	}
	c.Analytics.Platform, c.Analytics.AppVersion = cfg.Platform, cfg.AppVersion
	if cfg.AnalyticsJSON != "" {
		var a struct {
			Leader    string `json:"leader"`
			LeaderKey string `json:"leader_key"`
			HelperKey string `json:"helper_key"`
		}
		if err := json.Unmarshal([]byte(cfg.AnalyticsJSON), &a); err != nil {
			return errCode(CodeBadArgument, "mobile: AnalyticsJSON: "+err.Error())
		}
		lk, err1 := hex.DecodeString(a.LeaderKey)
		hk, err2 := hex.DecodeString(a.HelperKey)
		if err1 != nil || err2 != nil || len(lk) != 32 || len(hk) != 32 || a.Leader == "" {
			return errCode(CodeBadArgument, "mobile: AnalyticsJSON needs leader, leader_key and helper_key (32 bytes of hex each)")
		}
		c.Analytics = node.AnalyticsConfig{Enabled: true, Leader: a.Leader, LeaderKey: lk, HelperKey: hk, Platform: cfg.Platform, AppVersion: cfg.AppVersion}
	}
	return nil
}

func timeoutCtx(ms int) (context.Context, context.CancelFunc) {
	if ms <= 0 {
		ms = 120_000
	}
	return context.WithTimeout(context.Background(), time.Duration(ms)*time.Millisecond)
}

// SetHandles sets the phone number and handles this user claims (comma or
// newline separated: "+33 6 12 34 56 78, x:@name"). Stored on the device
// only. CodeBadHandle when one does not parse.
func (m *Node) SetHandles(handles string) error {
	return m.do("SetHandles", func(n *node.Node) error {
		var hs []string
		for _, h := range strings.FieldsFunc(handles, func(r rune) bool { return r == ',' || r == '\n' }) {
			if h = strings.TrimSpace(h); h != "" {
				hs = append(hs, h)
			}
		}
		return n.SetHandles(hs)
	})
}

// SetProfile sets the display name and short description: sealed into
// contact offers (only a matched contact opens them) and sent end to end
// to every friend when it changes (friend_profile on their side).
func (m *Node) SetProfile(name, about string) error {
	return m.do("SetProfile", func(n *node.Node) error { return n.SetProfile(name, about) })
}

// SyncContacts matches the whole address book, given as JSON
// [{"Name":"…","Handles":["+49…","x:@…"]}…] ("[]" withdraws everything).
// It blocks for the network round trips and proofs of work — seconds for
// 1,000 contacts — up to timeoutMs (0 = 2 minutes): call it from a
// background thread. It returns node.ContactSyncResult as JSON;
// contact_match events announce new proposals.
func (m *Node) SyncContacts(contactsJSON string, timeoutMs int) (summary string, err error) {
	return call(m, "SyncContacts", func(n *node.Node) (string, error) {
		var book []node.Contact
		if err := json.Unmarshal([]byte(contactsJSON), &book); err != nil {
			return "", errCode(CodeBadArgument, "mobile: contacts JSON: "+err.Error())
		}
		ctx, cancel := timeoutCtx(timeoutMs)
		defer cancel()
		res, err := n.SyncContacts(ctx, book)
		if err != nil {
			return "", err
		}
		return toJSON(res), nil
	})
}

// ContactMatchesJSON lists link proposals (node.ContactMatch), "[]" when none.
func (m *Node) ContactMatchesJSON() (s string) {
	defer guardQuiet("ContactMatchesJSON")
	n, err := m.node("ContactMatchesJSON")
	if err != nil {
		return "[]"
	}
	ms, _ := n.ContactMatches()
	return toJSON(ms)
}

// AcceptMatch accepts a proposal; it returns "linked" when the other side
// had accepted already (friend_linked fires), else "accepted" (the link
// completes at a later SyncContacts). Blocks up to timeoutMs.
func (m *Node) AcceptMatch(matchID string, timeoutMs int) (state string, err error) {
	return call(m, "AcceptMatch", func(n *node.Node) (string, error) {
		ctx, cancel := timeoutCtx(timeoutMs)
		defer cancel()
		return n.AcceptMatch(ctx, matchID)
	})
}

// RejectMatch declines a proposal and withdraws the pair's entry.
func (m *Node) RejectMatch(matchID string, timeoutMs int) error {
	return m.do("RejectMatch", func(n *node.Node) error {
		ctx, cancel := timeoutCtx(timeoutMs)
		defer cancel()
		return n.RejectMatch(ctx, matchID)
	})
}

// AnalyticsPreviewJSON shows what today's analytics report would contain
// (field → count); "{}" when analytics are off.
func (m *Node) AnalyticsPreviewJSON() (s string) {
	defer guardQuiet("AnalyticsPreviewJSON")
	n, err := m.node("AnalyticsPreviewJSON")
	if err != nil {
		return "{}"
	}
	pv := n.AnalyticsPreview()
	if pv == nil {
		return "{}"
	}
	b, _ := json.Marshal(pv)
	return string(b)
}

// SendAnalytics sends the finished days' reports now (the node also does
// it once a day on its own); for a background task. CodeAnalyticsOff when
// off (nothing is sent). Returns how many reports were taken.
func (m *Node) SendAnalytics(timeoutMs int) (sent int, err error) {
	return call(m, "SendAnalytics", func(n *node.Node) (int, error) {
		ctx, cancel := timeoutCtx(timeoutMs)
		defer cancel()
		return n.SendAnalytics(ctx)
	})
}

// EventFriendProfile: a friend's profile arrived or changed (FriendID;
// Text is the display name; FriendJSON has ProfileName, ProfileAbout and
// ProfilePicture).
const EventFriendProfile = node.EventFriendProfile

// SetProfilePicture sets a small profile picture (JPEG or PNG, at most 8
// KiB; empty removes it), sent end to end to every friend.
func (m *Node) SetProfilePicture(data []byte) error {
	return m.do("SetProfilePicture", func(n *node.Node) error { return n.SetProfilePicture(data) })
}
