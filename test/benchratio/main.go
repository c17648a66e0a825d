package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ratio is one claim: metric of Ours divided by metric of Base. Names are
// benchmark names without the -GOMAXPROCS suffix.
type ratio struct {
	claim, ours, base, metric string
	goal                      float64 // 0 = no stated goal
	atMost                    bool    // the goal is an upper bound (≤), not ≥
}

var ratios = []ratio{
	// Crypto: raw and ours alternate inside one benchmark loop, which
	// reports the ratio itself (base "" = the metric is already a ratio).
	{"envelope seal 64 KiB vs raw secretbox (interleaved)", "BenchmarkSealInterleaved/64KiB", "", "envelope/raw", 0, false},
	{"envelope seal 1 MiB vs raw secretbox (interleaved)", "BenchmarkSealInterleaved/1MiB", "", "envelope/raw", 0.9, false},
	{"envelope seal 8 MiB vs raw secretbox (interleaved)", "BenchmarkSealInterleaved/8MiB", "", "envelope/raw", 0.9, false},
	{"stream seal 64 KiB vs raw XChaCha20-Poly1305 (interleaved)", "BenchmarkSealInterleaved/64KiB", "", "stream/raw", 0, false},
	{"stream seal 1 MiB vs raw XChaCha20-Poly1305 (interleaved)", "BenchmarkSealInterleaved/1MiB", "", "stream/raw", 0.9, false},
	{"stream seal 8 MiB vs raw XChaCha20-Poly1305 (interleaved)", "BenchmarkSealInterleaved/8MiB", "", "stream/raw", 0.9, false},
	{"store put ×64 vs bbolt Batch default", "BenchmarkStorePut64", "BenchmarkRawBoltBatchDefault", "puts/s", 2, false},
	{"store put ×64 vs bbolt Batch MaxBatchSize=64", "BenchmarkStorePut64", "BenchmarkRawBoltBatch64", "puts/s", 0.5, false},
	{"relay ingest QUIC ×64 vs bbolt Batch default", "BenchmarkIngest/quic", "BenchmarkBaselineBoltBatchDefault", "puts/s", 2, false},
	{"relay ingest QUIC ×64 vs bbolt Batch MaxBatchSize=64", "BenchmarkIngest/quic", "BenchmarkBaselineBoltBatch64", "puts/s", 0.5, false},
	{"relay ingest TCP ×64 vs bbolt Batch MaxBatchSize=64", "BenchmarkIngest/tcp", "BenchmarkBaselineBoltBatch64", "puts/s", 0.5, false},
	// Transfers: raw baselines and the share alternate inside one loop,
	// which reports raw time / share time (1 = as fast as raw).
	{"8 MiB node→node, receipt back, vs raw QUIC stream", "BenchmarkTransfer8MiB", "", "share/raw", 0.6, false},
	{"8 MiB node→node, receipt back, vs raw QUIC into fsynced file", "BenchmarkTransfer8MiB", "", "share/rawfile", 0.9, false},
	{"8 MiB, sealing included (overlapped), vs raw fsynced file", "BenchmarkTransfer8MiB", "", "sealshare/rawfile", 0, false},
	{"256 MiB video node→node vs raw QUIC stream", "BenchmarkTransfer256MiB", "", "share/raw", 0.6, false},
	{"256 MiB video node→node vs raw QUIC into fsynced file", "BenchmarkTransfer256MiB", "", "share/rawfile", 0.9, false},
	{"256 MiB video: peak RSS growth, sender+receiver (MiB)", "BenchmarkTransfer256MiB", "", "rss-MiB", 64, true},
	{"8 MiB to 5 friends vs five raw fsynced streams at once", "BenchmarkTransfer8MiBTo5Friends", "", "share/rawfile", 0.8, false},
	{"time to first chunk after Accept, round trips of a 40 ms-RTT link", "BenchmarkTTFBAfterAccept/rtt40ms", "", "ttfb-rtts", 2, true},
	{"time to first chunk after Accept, loopback echo RTTs (context)", "BenchmarkTTFBAfterAccept/loopback", "", "ttfb-rtts", 0, true},
	{"time to first chunk after Accept, in raw 64 KiB messages (loopback)", "BenchmarkTTFBAfterAccept/loopback", "", "ttfb/raw64k", 0, true},
	{"a new meeting span, 1000 photos waiting, vs one raw read of them (interleaved)", "BenchmarkMeetingKnownFullWaiting", "", "known/raw", 3, true},
	{"the same right after a write to the waiting bucket (all decoded again)", "BenchmarkMeetingKnownFullWaiting", "", "cold/raw", 0, true},
}

// verdict says whether v meets r's goal ("" without a goal).
func (r ratio) verdict(v float64) string {
	if r.goal <= 0 {
		return ""
	}
	verdict, op := "met", "≥"
	if r.atMost {
		op = "≤"
	}
	if (!r.atMost && v < r.goal) || (r.atMost && v > r.goal) {
		verdict = "NOT met"
	}
	return fmt.Sprintf("  (goal %s %.2g: %s)", op, r.goal, verdict)
}

// lineRE matches "BenchmarkName-8   123   456 ns/op   7.8 MB/s   9 x/s".
var lineRE = regexp.MustCompile(`^(Benchmark\S+?)(-\d+)?\s+\d+\s+(.*)$`)

func main() {
	values, err := scan(os.Stdin, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
	fmt.Println()
	fmt.Println("Ratios to raw baselines (same run):")
	for _, r := range ratios {
		o, ok1 := values[r.ours][r.metric]
		b, ok2 := values[r.base][r.metric]
		if r.base == "" {
			b, ok2 = 1, true
		}
		if !ok1 || !ok2 || b == 0 {
			continue
		}
		goal := r.verdict(o / b)
		if r.base == "" {
			x := "×"
			if !strings.Contains(r.metric, "/") {
				x = " " // an absolute figure (MiB, round trips), not a ratio
			}
			fmt.Printf("  %-58s %6.2f%s  [%s]%s\n", r.claim, o, x, r.metric, goal)
			continue
		}
		fmt.Printf("  %-58s %6.2f×  [%.4g / %.4g %s]%s\n", r.claim, o/b, o, b, r.metric, goal)
	}
}

// scan copies in to out and collects every "value unit" pair per
// benchmark; a benchmark run several times (-count) gets the median.
func scan(in io.Reader, out io.Writer) (map[string]map[string]float64, error) {
	runs := map[string]map[string][]float64{}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		fmt.Fprintln(out, line)
		m := lineRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		f := strings.Fields(m[3])
		if runs[m[1]] == nil {
			runs[m[1]] = map[string][]float64{}
		}
		for i := 0; i+1 < len(f); i += 2 {
			x, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			runs[m[1]][f[i+1]] = append(runs[m[1]][f[i+1]], x)
		}
	}
	values := map[string]map[string]float64{}
	for name, units := range runs {
		values[name] = map[string]float64{}
		for unit, xs := range units {
			values[name][unit] = median(xs)
		}
	}
	return values, sc.Err()
}

func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}
