package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/imigee/imigee/node"
)

// TestEventPrinter: every event kind reads as a sentence in text mode and
// as one JSON object with only the documented fields in -json mode.
func TestEventPrinter(t *testing.T) {
	kinds := []string{node.EventFriendLinked, node.EventFriendPending, node.EventFriendNearby, node.EventFriendGone, node.EventItemOffered,
		node.EventItemReceived, node.EventProgress, node.EventDelivered, node.EventDeliveryFailed, node.EventQueued, node.EventLike, node.EventMessage,
		node.EventReceiveProgress, node.EventSealing, node.EventFriendWasNearby, node.EventShareProposed}
	for _, k := range kinds {
		ev := eventJSON{Time: "t", Event: k, Friend: "3fa2c1d0aabbccdd", Item: "9c1e00112233445566778899aabbccdd",
			Type: "photo\x1b[2J", Text: "two\nlines", Path: "/m/x.jpg", Done: 1 << 20, Total: 3 << 20, Err: "e", From: 1_800_000_000, To: 1_800_000_600}
		var text, js bytes.Buffer
		(&eventPrinter{w: &text}).print(ev)
		(&eventPrinter{w: &js, json: true}).print(ev)
		s := text.String()
		if strings.Count(s, "\n") != 1 || strings.Contains(s, "%!") || strings.Contains(s, "\x1b") || (k != node.EventSealing && !strings.Contains(s, "3fa2c1d0")) || strings.Contains(s, "3fa2c1d0aa") {
			t.Errorf("%s: text %q", k, s)
		}
		var m map[string]any
		if err := json.Unmarshal(js.Bytes(), &m); err != nil || m["event"] != k {
			t.Errorf("%s: json %q: %v", k, js.String(), err)
		}
	}
}
