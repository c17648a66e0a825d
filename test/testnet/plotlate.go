package testnet

// Plots of the after-the-fact path (late.go): how meetings were found
// (live, late, missed) per distance, and how long finding them took.

import (
	"fmt"
	"math"

	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// Plot files of late.go.
const (
	PlotLateShares = "meetings_live_late_missed.png"
	PlotLateDelay  = "detection_delay_ccdf.png"
)

// plotLateShares draws, per distance, the shares of meetings detected
// live, late and missed as stacked bars, n under each bar.
func plotLateShares(dir string, sum LateSummary) error {
	var rows []LateRow
	for _, r := range sum.ByDistance {
		if r.Meetings > 0 {
			rows = append(rows, r)
		}
	}
	if len(rows) == 0 {
		return errNoData("no meeting lasted min_meeting")
	}
	p := newPlot("Meetings found live, late (after the fact) or missed", "meetings within", "share of meetings")
	names := make([]string, len(rows))
	for i, r := range rows {
		names[i] = fmt.Sprintf("%g m (n=%d)", r.DistanceM, r.Meetings)
	}
	w := vg.Points(28)
	var below *plotter.BarChart
	for k, kind := range []string{OutcomeLive, OutcomeLate, OutcomeMissed} {
		vals := make(plotter.Values, len(rows))
		for i, r := range rows {
			switch kind {
			case OutcomeLive:
				vals[i] = r.LiveShare
			case OutcomeLate:
				vals[i] = r.LateShare
			default:
				vals[i] = r.MissedShare
			}
		}
		b, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return fmt.Errorf("testnet: plot: %w", err)
		}
		b.Color = palette[[]int{2, 1, 7}[k]]
		b.LineStyle.Width = 0
		if below != nil {
			b.StackOn(below)
		}
		below = b
		p.Add(b)
		// Counts per bar are in summary.json; a meeting within 50 m is
		// also one within 150 m, so totals over bars would mislead.
		p.Legend.Add(kind, b)
	}
	p.NominalX(names...)
	p.Y.Min, p.Y.Max = 0, 1.25 // room for the legend above the bars
	unitTicks(p)
	p.Legend.Top, p.Legend.Left = true, false
	p.Legend.YOffs = -vg.Points(4)
	return save(p, dir, PlotLateShares)
}

// delayFloor is where delays below it are drawn on the log axis: 1 s
// (live detections are often immediate, 0 s).
const delayFloor = 1.0

// plotLateDelay draws the CCDF of the delay from meeting start to
// detection, live and late, per distance, on a log time axis.
func plotLateDelay(dir string, s *Scenario, an *LateAnalysis) error {
	p := newPlot("Delay from meeting to detection (CCDF)", "seconds from meeting start (log; < 1 s drawn at 1 s)", "P(delay > x)")
	logX(p)
	drawn := false
	for di, d := range s.Metrics.Distances {
		for k, v := range [][]float64{an.LiveDelay[di], an.LateDelay[di]} {
			if len(v) == 0 {
				continue
			}
			kind := OutcomeLive
			if k == 1 {
				kind = OutcomeLate
			}
			l, err := plotter.NewLine(floorCCDF(v, delayFloor))
			if err != nil {
				return fmt.Errorf("testnet: plot: %w", err)
			}
			l.Color = palette[di%len(palette)]
			l.Width = vg.Points(1.5)
			if k == 1 { // late: dashed, in the distance's colour
				l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
			}
			p.Add(l)
			p.Legend.Add(fmt.Sprintf("%s ≤ %g m (%d)", kind, d, len(v)), l)
			drawn = true
		}
	}
	if !drawn {
		return errNoData("no meeting was detected")
	}
	// Room above 1 for the legend: the curves start at the top left.
	p.Y.Min, p.Y.Max = 0, 1.5
	unitTicks(p)
	p.Legend.Top, p.Legend.Left = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(4)
	p.Legend.TextStyle.Font.Size = vg.Points(9)
	return save(p, dir, PlotLateDelay)
}

// floorCCDF is the step function P(X > x) of xs, with values below floor
// drawn at floor, starting at (floor, 1) and ending at the largest value.
func floorCCDF(xs []float64, floor float64) plotter.XYs {
	n := float64(len(xs))
	out := plotter.XYs{{X: floor, Y: 1}}
	for i, x := range xs { // sorted
		x = math.Max(x, floor)
		out = append(out, plotter.XY{X: x, Y: 1 - float64(i)/n}, plotter.XY{X: x, Y: 1 - float64(i+1)/n})
	}
	if last := out[len(out)-1]; last.X == floor {
		out = append(out, plotter.XY{X: 10 * floor, Y: last.Y})
	}
	return out
}
