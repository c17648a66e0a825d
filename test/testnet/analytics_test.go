package testnet

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestAnalyticsRowsAgainstTruth: the ground truth comes from the event
// log (deliveries by path, share→delivered times in the schema's buckets,
// received items, meetings) and each row sets the published sum over days
// beside it.
func TestAnalyticsRowsAgainstTruth(t *testing.T) {
	evs := []Event{
		{T: 0, Kind: KindShared, Node: 0, Peer: -1, Item: "a"},
		{T: 5_000, Kind: KindDelivered, Node: 0, Peer: 1, Item: "a", Via: "direct"},
		{T: 120_000, Kind: KindDelivered, Node: 0, Peer: 2, Item: "a", Via: "mailbox"},
		{T: 3_000, Kind: KindReceived, Node: 1, Peer: 0, Item: "a"},
		{T: 100_000, Kind: KindReceived, Node: 2, Peer: 0, Item: "a"},
		{T: 1, Kind: KindNearby, Node: 0, Peer: 1},
		{T: 1, Kind: KindNearby, Node: 1, Peer: 0},
		{T: 9, Kind: KindWasNearby, Node: 2, Peer: 0},
	}
	pub := AnalyticsPublished{Sent: 3, Days: []AnalyticsDay{
		{Totals: map[string]uint64{"reports": 2, "shared_photo": 1, "delivered_direct": 1, "ttd_under_10s": 1, "friend_nearby": 2}},
		{Totals: map[string]uint64{"reports": 1, "shared_photo": 1, "delivered_mailbox": 1, "ttd_under_10m": 1, "received_photo": 2, "friend_was_nearby": 1}},
	}}
	rows := map[string]AnalyticsRow{}
	for _, r := range AnalyticsRows(pub, evs, 3) {
		rows[r.Field] = r
	}
	want := map[string][2]int64{ // published, truth
		"reports": {3, 3}, "shared_*": {2, 2}, "delivered_direct": {1, 1}, "delivered_mailbox": {1, 1},
		"delivered_circuit": {0, 0}, "ttd_under_10s": {1, 1}, "ttd_under_1m": {0, 0}, "ttd_under_10m": {1, 1},
		"received_*": {2, 2}, "friend_nearby": {2, 2}, "friend_was_nearby": {1, 1},
	}
	for f, w := range want {
		r, ok := rows[f]
		if !ok || r.Truth == nil || int64(r.Published) != w[0] || *r.Truth != w[1] {
			t.Errorf("%s: %+v, want published %d truth %d", f, r, w[0], w[1])
		}
	}
	if rows["disc_under_1m"].Truth != nil {
		t.Error("a field without ground truth got one")
	}
}

// TestAnalyticsScenarioChecks: analytics need two relays and a sane
// minimum batch; the default batch fits the run.
func TestAnalyticsScenarioChecks(t *testing.T) {
	for _, c := range []struct{ toml, want string }{
		{"relays = 1\n[analytics]\nenabled = true\n", "analytics.enabled"},
		{"relays = 2\n[analytics]\nenabled = true\nmin_batch = 1\n", "analytics.min_batch"},
	} {
		_, err := ParseScenario([]byte(c.toml), ".")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want an error naming %s", c.toml, err, c.want)
		}
	}
	s, err := ParseScenario([]byte("relays = 2\nnodes = 12\n[analytics]\nenabled = true\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Analytics.MinBatchFor(s.Nodes); got != 12 {
		t.Fatalf("default min batch %d for 12 phones", got)
	}
	if got := (AnalyticsConfig{}).MinBatchFor(500); got != 100 {
		t.Fatalf("default min batch %d for 500 phones", got)
	}
}

// fakeAnalytics is a Network whose collectors published nothing (a batch
// below the minimum).
type fakeAnalytics struct{ Network }

func (fakeAnalytics) ReportAnalytics(context.Context) (AnalyticsPublished, error) {
	return AnalyticsPublished{Sent: 3}, nil
}

// TestReportAnalyticsBelowMinimum: when the collectors publish no day,
// analytics.json says so (an empty list, reports sent counted) and the
// rows show zero published against the ground truth; a backend without
// collectors is an error, not a silent empty file.
func TestReportAnalyticsBelowMinimum(t *testing.T) {
	s, err := ParseScenario([]byte("relays = 2\nnodes = 12\n[analytics]\nenabled = true\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	evs := func() []Event { return []Event{{Kind: KindNearby, Node: 0, Peer: 1}} }
	if err := reportAnalytics(context.Background(), s, fakeAnalytics{}, evs, out); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, FileAnalytics))
	if err != nil {
		t.Fatal(err)
	}
	var o AnalyticsOutcome
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"published": []`) || o.Sent != 3 || o.MinBatch != 12 {
		t.Fatalf("analytics.json %s", b)
	}
	for _, r := range o.Rows {
		if r.Field == "friend_nearby" && (r.Published != 0 || r.Truth == nil || *r.Truth != 1) {
			t.Fatalf("row %+v", r)
		}
	}
	if err := reportAnalytics(context.Background(), s, nil, evs, out); err == nil {
		t.Fatal("a backend without collectors reported nothing and no error")
	}
}
