package inproc

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/test/testnet"
)

// TestAnalyticsRowsReadSchemaFields: testnet names the report fields it
// sums without importing protocol; every row must read a field of
// protocol.AnalyticsFields, or a renamed field would publish 0 beside its
// truth without a word.
func TestAnalyticsRowsReadSchemaFields(t *testing.T) {
	day := testnet.AnalyticsDay{Totals: map[string]uint64{}}
	for _, f := range protocol.AnalyticsFields {
		day.Totals[f] = 1
	}
	rows := testnet.AnalyticsRows(testnet.AnalyticsPublished{Days: []testnet.AnalyticsDay{day}}, nil, 1)
	for _, r := range rows {
		if r.Published == 0 {
			t.Errorf("row %s reads no field of protocol.AnalyticsFields", r.Field)
		}
	}
}

// TestAnalyticsScenario (P13 in the testnet): twelve real phones and two
// collector relays; at the end every phone reports its day through the
// real path and the leader publishes the day (min_batch 12). The published
// totals equal the run's ground truth from its event log: reports against
// phones, deliveries by path, all deliveries against the time-to-deliver
// histogram's sum (each bucket within one of the measured histogram: the
// phone times from its item's creation second), items received, live
// meetings.
func TestAnalyticsScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("real nodes for 12 s")
	}
	s, err := testnet.LoadScenario(filepath.Join("testdata", "analytics.toml"))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := testnet.Run(ctx, s, testnet.Options{Backend: &Backend{NoSync: true}, Out: out, Mode: "sim", NoPlots: true}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, testnet.FileAnalytics))
	if err != nil {
		t.Fatal(err)
	}
	var o testnet.AnalyticsOutcome
	if err := json.Unmarshal(b, &o); err != nil {
		t.Fatal(err)
	}
	if o.Sent != 12 || o.Failed != 0 || len(o.Published) != 1 || o.Published[0].Count != 12 {
		t.Fatalf("sent %d, failed %d %v, published %+v", o.Sent, o.Failed, o.Errors, o.Published)
	}
	rows := map[string]testnet.AnalyticsRow{}
	var ttd uint64
	for _, r := range o.Rows {
		rows[r.Field] = r
		tr := "-"
		if r.Truth != nil {
			tr = itoa(*r.Truth)
		}
		t.Logf("%-20s published %5d  truth %5s  %s", r.Field, r.Published, tr, r.Note)
		if len(r.Field) > 4 && r.Field[:4] == "ttd_" {
			ttd += r.Published
			if d := int64(r.Published) - *r.Truth; d < -1 || d > 1 {
				t.Errorf("%s: published %d, measured %d", r.Field, r.Published, *r.Truth)
			}
		}
	}
	for _, f := range []string{"reports", "shared_*", "delivered_direct", "delivered_circuit", "delivered_mailbox", "received_*", "friend_nearby"} {
		if r := rows[f]; r.Truth == nil || int64(r.Published) != *r.Truth {
			t.Errorf("%s: published %d, truth %v", f, r.Published, r.Truth)
		}
	}
	if rows["shared_*"].Published == 0 || rows["friend_nearby"].Published == 0 {
		t.Error("the run delivered nothing or met no one: the comparison is empty")
	}
	if ttd != rows["shared_*"].Published {
		t.Errorf("time-to-deliver buckets sum to %d, deliveries %d", ttd, rows["shared_*"].Published)
	}
	if st, err := os.Stat(filepath.Join(out, testnet.FileAnalyticsCSV)); err != nil || st.Size() == 0 {
		t.Errorf("%s missing: %v", testnet.FileAnalyticsCSV, err)
	}
}

func itoa(v int64) string { return json.Number(fmtInt(v)).String() }

func fmtInt(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}
