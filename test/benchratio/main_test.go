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
