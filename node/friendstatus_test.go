package node

import (
	"encoding/json"
	"testing"
)

// TestPrecisionJSON: one representation (the name) on the way out; the
// numbers older friend records hold still read.
func TestPrecisionJSON(t *testing.T) {
	b, err := json.Marshal(Friend{Precision: PrecisionCasual})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if json.Unmarshal(b, &m) != nil || m["Precision"] != "casual" {
		t.Fatalf("friend JSON %s", b)
	}
	for in, want := range map[string]Precision{`"off"`: PrecisionOff, `"close"`: PrecisionClose, `1`: PrecisionCasual, `2`: PrecisionOff} {
		var p Precision
		if err := json.Unmarshal([]byte(in), &p); err != nil || p != want {
			t.Errorf("%s: %v %v", in, p, err)
		}
	}
	for _, in := range []string{`"far"`, `7`, `-1`, `null`, `{}`} {
		var p Precision
		if err := json.Unmarshal([]byte(in), &p); err == nil && in != `null` {
			t.Errorf("%s accepted as %v", in, p)
		}
	}
}
