package testnet

// Anonymous analytics in a run (DESIGN.md P13; [analytics] in a scenario):
// relays 0 and 1 act as the leader and helper collectors, every phone
// counts its day, and at the end of the run each phone online reports its
// day (the run's day ends with the run) through the real report path —
// Prio3 shares, a one-off transport identity, the leader's checks with the
// helper — and the leader publishes the totals of each day with at least
// min_batch reports. analytics.json and analytics.csv put the published
// totals next to the run's own ground truth from the event log: reports
// against phones, deliveries by path, the time-to-deliver histogram
// against measured share→delivered times, items received, meetings.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

// Analytics output files.
const (
	FileAnalytics    = "analytics.json"
	FileAnalyticsCSV = "analytics.csv"
)

// AnalyticsConfig turns analytics on for a run.
type AnalyticsConfig struct {
	// Enabled makes relays 0 and 1 the collectors and every phone count
	// and report its day. Needs relays >= 2. Default off.
	Enabled bool `toml:"enabled"`
	// MinBatch is the collectors' minimum batch. Default min(nodes, 100);
	// at least 2.
	MinBatch int `toml:"min_batch"`
}

// MinBatchFor is the minimum batch a run of nodes phones uses.
func (a AnalyticsConfig) MinBatchFor(nodes int) int {
	if a.MinBatch > 0 {
		return a.MinBatch
	}
	return max(2, min(nodes, 100))
}

func (s *Scenario) validateAnalytics(bad badFunc) {
	a := s.Analytics
	if !a.Enabled {
		return
	}
	if s.Relays < 2 {
		bad("analytics.enabled", "needs relays >= 2 (leader and helper), have %d", s.Relays)
	}
	if a.MinBatch != 0 && (a.MinBatch < 2 || a.MinBatch > 1_000_000) {
		bad("analytics.min_batch", "%d not in [2, 1000000]", a.MinBatch)
	}
}

// AnalyticsNetwork is a Network whose phones can report their day to the
// collector relays (inproc does).
type AnalyticsNetwork interface {
	// ReportAnalytics stops every online phone's networking (nothing
	// more happens to be counted), has each send its day's report (its
	// finished days too), then has the leader sum and publish.
	ReportAnalytics(ctx context.Context) (AnalyticsPublished, error)
}

// AnalyticsPublished is what the collectors published, and how the
// phones' sends went.
type AnalyticsPublished struct {
	// Sent is how many reports the leader took; Failed how many phones
	// could not send (error text in Errors, at most 10).
	Sent, Failed int
	Errors       []string
	// Days are the published days.
	Days []AnalyticsDay
}

// AnalyticsDay is one published day.
type AnalyticsDay struct {
	Day    uint32            `json:"day"`
	Date   string            `json:"date"`
	Count  uint64            `json:"reports"`
	Totals map[string]uint64 `json:"totals"`
}

// AnalyticsRow is one published total beside the run's ground truth
// (Truth nil where the run has none for it).
type AnalyticsRow struct {
	Field     string `json:"field"`
	Published uint64 `json:"published"`
	Truth     *int64 `json:"truth,omitempty"`
	Note      string `json:"note,omitempty"`
}

// AnalyticsOutcome is analytics.json.
type AnalyticsOutcome struct {
	MinBatch  int            `json:"min_batch"`
	Phones    int            `json:"phones"`
	Sent      int            `json:"reports_sent"`
	Failed    int            `json:"reports_failed"`
	Errors    []string       `json:"errors,omitempty"`
	Published []AnalyticsDay `json:"published"`
	// Rows compare the sum over published days with the ground truth.
	Rows []AnalyticsRow `json:"rows"`
}

// ttdEdges are the time-to-deliver buckets of the report schema
// (protocol.AnalyticsFields, ttd_*), in order.
var ttdEdges = []struct {
	field string
	under time.Duration
}{
	{"ttd_under_10s", 10 * time.Second}, {"ttd_under_1m", time.Minute}, {"ttd_under_10m", 10 * time.Minute},
	{"ttd_under_1h", time.Hour}, {"ttd_under_1d", 24 * time.Hour}, {"ttd_over_1d", 1 << 62},
}

// analyticsTruth counts, from the event log, what the reports should sum
// to. Times to deliver are measured share→delivered per recipient in
// virtual time; the phone measures from its item's creation second, so a
// delivery within a second of a bucket edge may land one bucket over.
func analyticsTruth(events []Event) map[string]int64 {
	t := map[string]int64{}
	shared := map[string]int64{} // item → virtual ms
	for _, e := range events {
		if e.Kind == KindShared && e.Err == "" {
			shared[e.Item] = e.T
		}
	}
	for _, e := range events {
		switch e.Kind {
		case KindDelivered:
			t["delivered"]++
			t["delivered_"+e.Via]++
			if at, ok := shared[e.Item]; ok {
				d := time.Duration(e.T-at) * time.Millisecond
				for _, b := range ttdEdges {
					if d < b.under {
						t[b.field]++
						break
					}
				}
			}
		case KindReceived:
			t["received"]++
		case KindNearby:
			t["friend_nearby"]++
		case KindWasNearby:
			t["friend_was_nearby"]++
		case KindFailed:
			t["delivery_failed"]++
		}
	}
	return t
}

// AnalyticsRows sums the published days and sets each total beside its
// ground truth.
func AnalyticsRows(pub AnalyticsPublished, events []Event, phones int) []AnalyticsRow {
	sum := map[string]uint64{}
	for _, d := range pub.Days {
		for f, v := range d.Totals {
			sum[f] += v
		}
	}
	truth := analyticsTruth(events)
	p := func(v int64) *int64 { return &v }
	rows := []AnalyticsRow{{Field: "reports", Published: sum["reports"], Truth: p(int64(pub.Sent)), Note: "reports the leader took (" + strconv.Itoa(phones) + " phones)"}}
	add := func(field string, published uint64, tr string, note string) {
		r := AnalyticsRow{Field: field, Published: published, Note: note}
		if tr != "" {
			r.Truth = p(truth[tr])
		}
		rows = append(rows, r)
	}
	add("shared_*", sum["shared_photo"]+sum["shared_video"]+sum["shared_message"]+sum["shared_like"], "delivered", "items delivered, per recipient")
	for _, via := range []string{"direct", "circuit", "mailbox"} {
		add("delivered_"+via, sum["delivered_"+via], "delivered_"+via, "deliveries by path")
	}
	for _, b := range ttdEdges {
		add(b.field, sum[b.field], b.field, "time to deliver, measured share→delivered")
	}
	add("received_*", sum["received_photo"]+sum["received_video"]+sum["received_message"]+sum["received_like"], "received", "items received")
	add("delivery_failed", sum["delivery_failed"], "delivery_failed", "")
	add("friend_nearby", sum["friend_nearby"], "friend_nearby", "live meetings, both sides")
	add("friend_was_nearby", sum["friend_was_nearby"], "friend_was_nearby", "late meetings")
	for _, f := range []string{"disc_under_1m", "disc_under_5m", "disc_under_15m", "disc_under_1h", "disc_over_1h",
		"loc_acc_under_10m", "loc_acc_under_50m", "loc_acc_under_200m", "loc_acc_over_200m",
		"relay_connect_ok", "relay_connect_failed", "net_wifi", "net_cellular", "net_other", "net_none"} {
		add(f, sum[f], "", "")
	}
	return rows
}

// reportAnalytics runs the end-of-run reports and writes analytics.json
// and analytics.csv into out; events gives the event log once the phones'
// networking is down, so both sides describe the same run.
func reportAnalytics(ctx context.Context, s *Scenario, net Network, events func() []Event, out string) error {
	an, ok := net.(AnalyticsNetwork)
	if !ok {
		return errors.New("testnet: analytics: this backend cannot run the collectors")
	}
	pub, err := an.ReportAnalytics(ctx)
	if err != nil {
		return fmt.Errorf("testnet: analytics: %w", err)
	}
	o := AnalyticsOutcome{MinBatch: s.Analytics.MinBatchFor(s.Nodes), Phones: s.Nodes, Sent: pub.Sent, Failed: pub.Failed,
		Errors: pub.Errors, Published: pub.Days, Rows: AnalyticsRows(pub, events(), s.Nodes)}
	if o.Published == nil {
		o.Published = []AnalyticsDay{}
	}
	if err := writeJSON(filepath.Join(out, FileAnalytics), o); err != nil {
		return err
	}
	rows := [][]string{{"field", "published", "truth", "note"}}
	for _, r := range o.Rows {
		tr := ""
		if r.Truth != nil {
			tr = strconv.FormatInt(*r.Truth, 10)
		}
		rows = append(rows, []string{r.Field, strconv.FormatUint(r.Published, 10), tr, r.Note})
	}
	return writeCSV(filepath.Join(out, FileAnalyticsCSV), rows)
}
