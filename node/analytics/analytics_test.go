package analytics

import (
	"errors"
	"testing"

	"github.com/imigee/imigee/protocol"
)

// TestCountersCapAndDays: a report counts one phone, fields are capped
// at AnalyticsBits, an unknown name is refused, and days older than KeepDays
// are dropped when a new day starts.
func TestCountersCapAndDays(t *testing.T) {
	c := NewCounters(nil)
	if err := c.Add(10, "no_such_field", 1); !errors.Is(err, ErrUnknownField) {
		t.Fatalf("unknown field: %v", err)
	}
	_ = c.Add(10, "crash_sig_3", 1<<20)
	v := c.Values(10)
	if len(v) != len(protocol.AnalyticsFields) || v[0] != 1 || v[fieldIndex["crash_sig_3"]] != 1<<protocol.AnalyticsBits-1 {
		t.Fatalf("values %v", v)
	}
	_ = c.Add(11, "crash", 1)
	_ = c.Add(10+KeepDays, "crash", 1)
	if d := c.Days(); len(d) != 2 || d[0] != 11 {
		t.Fatalf("days %v", d)
	}
}
