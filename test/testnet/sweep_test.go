package testnet

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestSweepPointsAndSeeds(t *testing.T) {
	seeds, err := ParseSeeds("1-3,7")
	if err != nil || !slices.Equal(seeds, []uint64{1, 2, 3, 7}) {
		t.Fatalf("seeds %v %v", seeds, err)
	}
	for _, bad := range []string{"0", "3-1", "x", "1-20000"} {
		if _, err := ParseSeeds(bad); err == nil {
			t.Errorf("seeds %q accepted", bad)
		}
	}
	a, _ := ParseSweepParam("network.latency=10ms,100ms")
	b, _ := ParseSweepParam("workload.items_per_hour=1,2,4")
	pts := SweepPoints([]SweepParam{a, b})
	if len(pts) != 6 || pts[0].Label != "network.latency=10ms workload.items_per_hour=1" ||
		pts[5].Dir != "network.latency=100ms_workload.items_per_hour=4" {
		t.Fatalf("points %+v", pts)
	}
	if _, err := ParseSweepParam("nokey"); err == nil {
		t.Error("parameter without = accepted")
	}
}

// TestMeanCI: mean and 95 % t interval of 1, 2, 3 (t(0.975, 2) = 4.3027).
func TestMeanCI(t *testing.T) {
	m, sd, lo, hi := meanCI([]float64{1, 2, 3})
	h := 4.302652729911275 / math.Sqrt(3)
	if m != 2 || sd != 1 || math.Abs(lo-(2-h)) > 1e-9 || math.Abs(hi-(2+h)) > 1e-9 {
		t.Errorf("meanCI = %v %v [%v, %v]", m, sd, lo, hi)
	}
	if m, _, lo, hi := meanCI([]float64{5}); m != 5 || lo != 5 || hi != 5 {
		t.Errorf("one value: %v [%v, %v]", m, lo, hi)
	}
}

func TestWriteSweep(t *testing.T) {
	p, _ := ParseSweepParam("network.latency=10ms,100ms")
	pts := SweepPoints([]SweepParam{p})
	var runs []SweepRun
	for i, pt := range pts {
		for seed := uint64(1); seed <= 3; seed++ {
			s := &Summary{Meetings: MeetingSummary{ByDistance: []DistanceRow{{DistanceM: 50, Meetings: 4, Detected: 3, Rate: 0.75}}},
				Delivery: DeliverySummary{Recipients: 10, Delivered: 10, Ratio: 1, TTDP50S: float64(i+1) + float64(seed)/10}}
			runs = append(runs, SweepRun{Point: pt, Seed: seed, Metrics: SummaryMetrics(s)})
		}
	}
	dir := t.TempDir()
	agg, err := WriteSweep(dir, []SweepParam{p}, pts, runs, false)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(agg, func(a AggRow) bool { return a.Point == pts[1].Label && a.Metric == "ttd_p50_s" })
	if i < 0 || agg[i].N != 3 || math.Abs(agg[i].Mean-2.2) > 1e-9 {
		t.Fatalf("aggregate %+v", agg)
	}
	for _, f := range []string{FileSweepRuns, FileSweepAggregate, FileSweepTable, "sweep_ttd_p50_s.png"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "sweep_false_detections.png")); err == nil {
		t.Error("an all-zero metric was plotted")
	}
}

// TestSweepBar: a rate's error bar stops at 0 and 1 (three seeds of 1, 1
// and 0.955 give a t interval reaching 1.05); other metrics keep theirs.
func TestSweepBar(t *testing.T) {
	r := AggRow{Mean: 0.985, Lo: 0.92, Hi: 1.05}
	if lo, hi := sweepBar("detected_300m", r); math.Abs(lo-0.065) > 1e-9 || math.Abs(hi-0.015) > 1e-9 {
		t.Errorf("rate bar %v %v, want 0.065 below and 0.015 above", lo, hi)
	}
	if lo, hi := sweepBar("delivery_ratio", AggRow{Mean: 0.02, Lo: -0.03, Hi: 0.07}); math.Abs(lo-0.02) > 1e-9 || math.Abs(hi-0.05) > 1e-9 {
		t.Errorf("rate bar %v %v, want 0.02 below", lo, hi)
	}
	if lo, hi := sweepBar("ttd_p50_s", r); math.Abs(lo-0.065) > 1e-9 || math.Abs(hi-0.065) > 1e-9 {
		t.Errorf("time bar %v %v, want the t interval", lo, hi)
	}
	for _, m := range SummaryMetrics(&Summary{Meetings: MeetingSummary{ByDistance: []DistanceRow{{DistanceM: 50}}},
		Late: LateSummary{ByDistance: []LateRow{{DistanceM: 50}}}}) {
		isShare := strings.Contains(m.Name, "share") || strings.HasPrefix(m.Name, "detected") || strings.HasSuffix(m.Name, "ratio")
		if rateMetric(m.Name) != isShare {
			t.Errorf("rateMetric(%q) = %v", m.Name, rateMetric(m.Name))
		}
	}
}
