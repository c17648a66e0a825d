package main

import (
	"io"
	"strings"
	"testing"
)

func TestScan(t *testing.T) {
	in := `goos: linux
BenchmarkSecretboxSeal/1MiB-2         	    1000	   1100000 ns/op	 950.00 MB/s	       0 B/op
BenchmarkEnvelopeSeal/1MiB-2          	    1000	   1150000 ns/op	 910.50 MB/s
BenchmarkIngest/quic-2   	   50000	     83000 ns/op	     12000 puts/s	  29.4 ops/commit
BenchmarkEnvelopeSeal/1MiB-2          	    1000	   1150000 ns/op	 100.00 MB/s
BenchmarkEnvelopeSeal/1MiB-2          	    1000	   1150000 ns/op	 990.00 MB/s
PASS
`
	v, err := scan(strings.NewReader(in), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if got := v["BenchmarkEnvelopeSeal/1MiB"]["MB/s"]; got != 910.5 { // median of three runs
		t.Fatalf("envelope MB/s = %v", got)
	}
	if got := v["BenchmarkIngest/quic"]["ops/commit"]; got != 29.4 {
		t.Fatalf("ops/commit = %v", got)
	}
	if got := v["BenchmarkSecretboxSeal/1MiB"]["B/op"]; got != 0 {
		t.Fatalf("B/op = %v", got)
	}
}

func TestVerdict(t *testing.T) {
	for _, c := range []struct {
		r    ratio
		v    float64
		want string
	}{
		{ratio{goal: 0.9}, 0.95, "  (goal ≥ 0.9: met)"},
		{ratio{goal: 0.9}, 0.85, "  (goal ≥ 0.9: NOT met)"},
		{ratio{goal: 64, atMost: true}, 12, "  (goal ≤ 64: met)"},
		{ratio{goal: 2, atMost: true}, 3, "  (goal ≤ 2: NOT met)"},
		{ratio{}, 3, ""},
	} {
		if got := c.r.verdict(c.v); got != c.want {
			t.Errorf("%+v at %v: %q, want %q", c.r, c.v, got, c.want)
		}
	}
}
