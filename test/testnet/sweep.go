package testnet

import (
	"cmp"
	"fmt"
	"math"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/gonum/stat"
	"gonum.org/v1/gonum/stat/distuv"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Sweeps: one scenario run over the product of parameter lists and seeds
// (`imigee-testnet sweep`), each run in a directory of its own, then one
// table of every run's headline figures (sweep_runs.csv) and one of their
// mean and 95 % confidence interval over the seeds per parameter point
// (sweep_aggregate.csv, .md), with plots against the first parameter.
const (
	FileSweepRuns      = "sweep_runs.csv"
	FileSweepAggregate = "sweep_aggregate.csv"
	FileSweepTable     = "sweep_aggregate.md"
	// MaxSweepRuns caps points × seeds of one sweep: 10,000.
	MaxSweepRuns = 10_000
)

// SweepParam is one swept key and its values (--param key=v1,v2,...).
type SweepParam struct {
	Key    string
	Values []string
}

// ParseSweepParam reads "key=v1,v2,...".
func ParseSweepParam(s string) (SweepParam, error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || strings.TrimSpace(k) == "" || v == "" {
		return SweepParam{}, fmt.Errorf("testnet: sweep parameter %q is not key=v1,v2,...", s)
	}
	p := SweepParam{Key: strings.TrimSpace(k)}
	for _, x := range strings.Split(v, ",") {
		p.Values = append(p.Values, strings.TrimSpace(x))
	}
	return p, nil
}

// ParseSeeds reads "1,2,5" or "1-10" (or both, "1-3,7").
func ParseSeeds(s string) ([]uint64, error) {
	var out []uint64
	for _, part := range strings.Split(s, ",") {
		lo, hi, rng := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.ParseUint(lo, 10, 64)
		if err != nil || a == 0 {
			return nil, fmt.Errorf("testnet: seeds %q: %q is not a positive integer", s, lo)
		}
		b := a
		if rng {
			if b, err = strconv.ParseUint(hi, 10, 64); err != nil || b < a {
				return nil, fmt.Errorf("testnet: seeds %q: bad range %q", s, part)
			}
		}
		if b-a >= MaxSweepRuns {
			return nil, fmt.Errorf("testnet: seeds %q: more than %d", s, MaxSweepRuns)
		}
		for x := a; x <= b; x++ {
			out = append(out, x)
		}
	}
	return out, nil
}

// SweepPoint is one combination of parameter values.
type SweepPoint struct {
	Set   []string // key=value overrides
	Label string   // "k1=v1 k2=v2", or "base" without parameters
	Dir   string   // directory name
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9._=-]+`)

// SweepPoints is the product of the parameters' values, the first
// parameter varying slowest.
func SweepPoints(params []SweepParam) []SweepPoint {
	pts := []SweepPoint{{}}
	for _, p := range params {
		var next []SweepPoint
		for _, pt := range pts {
			for _, v := range p.Values {
				kv := p.Key + "=" + v
				next = append(next, SweepPoint{Set: append(slices.Clone(pt.Set), kv)})
			}
		}
		pts = next
	}
	for i := range pts {
		if len(pts[i].Set) == 0 {
			pts[i].Label, pts[i].Dir = "base", "base"
			continue
		}
		pts[i].Label = strings.Join(pts[i].Set, " ")
		pts[i].Dir = unsafeName.ReplaceAllString(strings.Join(pts[i].Set, "_"), "-")
	}
	return pts
}

// SweepRunDir is the directory of one run inside the sweep's.
func SweepRunDir(out string, pt SweepPoint, seed uint64) string {
	return filepath.Join(out, pt.Dir, fmt.Sprintf("seed-%d", seed))
}

// Metric is one headline figure of a run.
type Metric struct {
	Name  string
	Value float64
}

// SummaryMetrics are the figures a sweep tabulates, in a fixed order.
// Rates are NaN when there was nothing to rate (no meetings, no items).
func SummaryMetrics(s *Summary) []Metric {
	var out []Metric
	for _, r := range s.Meetings.ByDistance {
		d := ftoa(r.DistanceM)
		rate, both := math.NaN(), math.NaN()
		if r.Meetings > 0 {
			rate, both = r.Rate, float64(r.DetectedBoth)/float64(r.Meetings)
		}
		out = append(out, Metric{"detected_" + d + "m", rate}, Metric{"detected_both_" + d + "m", both},
			Metric{"meetings_" + d + "m", float64(r.Meetings)})
	}
	// Live vs late vs missed (late.go): the after-the-fact path's share.
	for _, r := range s.Late.ByDistance {
		d := ftoa(r.DistanceM)
		late, missed := math.NaN(), math.NaN()
		if r.Meetings > 0 {
			late, missed = r.LateShare, r.MissedShare
		}
		out = append(out, Metric{"late_share_" + d + "m", late}, Metric{"missed_share_" + d + "m", missed})
	}
	d := s.Delivery
	ratio := math.NaN()
	if d.Recipients > 0 {
		ratio = d.Ratio
	}
	out = append(out,
		Metric{"false_detections", float64(s.Meetings.False)},
		Metric{"delivery_ratio", ratio},
		Metric{"lost", float64(d.Lost)},
		Metric{"ttd_p50_s", d.TTDP50S}, Metric{"ttd_p90_s", d.TTDP90S},
		Metric{"in_kib_per_node_hour", s.Traffic.InMeanPerNodeHour / 1024},
		Metric{"out_kib_per_node_hour", s.Traffic.OutMeanPerNodeHour / 1024},
		Metric{"relay_peak_stored_kib", float64(s.Relay.PeakStoredBytes) / 1024},
		Metric{"relay_peak_rendezvous_entries", float64(s.Relay.PeakRendezvousEntries)},
		Metric{"late_detections", float64(s.Late.Detections)},
		Metric{"items_after_late", float64(s.Late.ItemsAfterLate)},
	)
	return out
}

// SweepRun is one finished run of a sweep.
type SweepRun struct {
	Point   SweepPoint
	Seed    uint64
	Metrics []Metric
}

// AggRow is one metric at one point over the seeds: mean and the 95 %
// confidence interval of the mean (Student's t, n−1 degrees of freedom;
// equal to the mean for n = 1). NaN values (nothing to rate) are left out
// of N.
type AggRow struct {
	Point          string
	Metric         string
	N              int
	Mean, Lo, Hi   float64
	StdDev         float64
	pointIdx, mIdx int
}

// Aggregate computes AggRows per point and metric, in point then metric
// order.
func Aggregate(points []SweepPoint, runs []SweepRun) []AggRow {
	idx := pointIndex(points)
	type key struct{ p, m int }
	vals := map[key][]float64{}
	names := map[int]string{}
	for _, r := range runs {
		for mi, m := range r.Metrics {
			names[mi] = m.Name
			if !math.IsNaN(m.Value) {
				k := key{idx[r.Point.Label], mi}
				vals[k] = append(vals[k], m.Value)
			}
		}
	}
	var out []AggRow
	for pi, p := range points {
		for mi := 0; mi < len(names); mi++ {
			v := vals[key{pi, mi}]
			row := AggRow{Point: p.Label, Metric: names[mi], N: len(v), pointIdx: pi, mIdx: mi}
			row.Mean, row.StdDev, row.Lo, row.Hi = meanCI(v)
			out = append(out, row)
		}
	}
	return out
}

// meanCI is the mean, sample standard deviation and 95 % t interval.
func meanCI(v []float64) (m, sd, lo, hi float64) {
	n := float64(len(v))
	if n == 0 {
		return math.NaN(), math.NaN(), math.NaN(), math.NaN()
	}
	if n == 1 {
		return v[0], 0, v[0], v[0]
	}
	m, sd = stat.MeanStdDev(v, nil) // sample (n-1) standard deviation
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: n - 1}.Quantile(0.975)
	h := t * sd / math.Sqrt(n)
	return m, sd, m - h, m + h
}

// pointIndex maps a point's label to its place in points.
func pointIndex(points []SweepPoint) map[string]int {
	idx := make(map[string]int, len(points))
	for i, p := range points {
		idx[p.Label] = i
	}
	return idx
}

// WriteSweep writes the run and aggregate tables and, unless noPlots, one
// plot per metric against the first parameter (when its values are
// numbers or durations), one line per combination of the others.
func WriteSweep(dir string, params []SweepParam, points []SweepPoint, runs []SweepRun, noPlots bool) ([]AggRow, error) {
	idx := pointIndex(points)
	slices.SortStableFunc(runs, func(a, b SweepRun) int {
		return cmp.Or(cmp.Compare(idx[a.Point.Label], idx[b.Point.Label]), cmp.Compare(a.Seed, b.Seed))
	})
	rows := [][]string{{"point", "seed"}}
	for i, r := range runs {
		if i == 0 {
			for _, m := range r.Metrics {
				rows[0] = append(rows[0], m.Name)
			}
		}
		row := []string{r.Point.Label, strconv.FormatUint(r.Seed, 10)}
		for _, m := range r.Metrics {
			row = append(row, fnum(m.Value))
		}
		rows = append(rows, row)
	}
	if err := writeCSV(filepath.Join(dir, FileSweepRuns), rows); err != nil {
		return nil, err
	}
	agg := Aggregate(points, runs)
	rows = [][]string{{"point", "metric", "n", "mean", "ci95_lo", "ci95_hi", "sd"}}
	var md strings.Builder
	md.WriteString("| point | metric | n | mean | 95 % CI |\n| --- | --- | --- | --- | --- |\n")
	for _, a := range agg {
		rows = append(rows, []string{a.Point, a.Metric, strconv.Itoa(a.N), fnum(a.Mean), fnum(a.Lo), fnum(a.Hi), fnum(a.StdDev)})
		fmt.Fprintf(&md, "| %s | %s | %d | %s | [%s, %s] |\n", a.Point, a.Metric, a.N, fnum(a.Mean), fnum(a.Lo), fnum(a.Hi))
	}
	if err := writeCSV(filepath.Join(dir, FileSweepAggregate), rows); err != nil {
		return nil, err
	}
	if err := writeFile(filepath.Join(dir, FileSweepTable), []byte(md.String())); err != nil {
		return nil, err
	}
	if noPlots || len(params) == 0 {
		return agg, nil
	}
	return agg, plotSweep(dir, params, points, agg)
}

// fnum is a number for a table: 6 significant digits, empty for NaN.
func fnum(x float64) string {
	if math.IsNaN(x) {
		return ""
	}
	return strconv.FormatFloat(round(x), 'g', -1, 64)
}

// paramNumber reads a parameter value as a number (durations in seconds).
func paramNumber(v string) (float64, bool) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		return f, true
	}
	var d Duration
	if d.UnmarshalText([]byte(strings.Trim(v, `"`))) == nil {
		return d.Seconds(), true
	}
	return 0, false
}

func plotSweep(dir string, params []SweepParam, points []SweepPoint, agg []AggRow) error {
	xs := make([]float64, len(params[0].Values))
	for i, v := range params[0].Values {
		x, ok := paramNumber(v)
		if !ok {
			return nil // categorical first parameter: the tables say it all
		}
		xs[i] = x
	}
	xlabel := params[0].Key
	per := len(points) / len(params[0].Values) // combinations of the other parameters
	byMetric := map[string][]AggRow{}
	var order []string
	for _, a := range agg {
		if _, ok := byMetric[a.Metric]; !ok {
			order = append(order, a.Metric)
		}
		byMetric[a.Metric] = append(byMetric[a.Metric], a)
	}
	for _, m := range order {
		rows := byMetric[m]
		flat, first := true, math.NaN()
		for _, r := range rows {
			if r.N == 0 {
				continue
			}
			if math.IsNaN(first) {
				first = r.Mean
			} else if r.Mean != first || r.Hi != r.Lo {
				flat = false
			}
		}
		if flat {
			// All equal, without spread (all zero, or all 100 %): a flat
			// line says nothing the table does not.
			continue
		}
		title := m + " (mean, 95 % CI)"
		if rateMetric(m) {
			title = m + " (mean, 95 % CI within [0, 1])"
		}
		p := newPlot(title, xlabel, m)
		sweepXAxis(p, xs, params[0].Values)
		for j := 0; j < per; j++ {
			var pts plotter.XYs
			var errs plotter.YErrors
			for i := range xs {
				r := rows[i*per+j]
				if r.N == 0 {
					continue
				}
				pts = append(pts, plotter.XY{X: xs[i], Y: r.Mean})
				lo, hi := sweepBar(m, r)
				errs = append(errs, struct{ Low, High float64 }{lo, hi})
			}
			if len(pts) == 0 {
				continue
			}
			name := ""
			if per > 1 {
				name = strings.Join(points[j].Set[1:], " ")
			}
			if err := addLine(p, pts, name, j); err != nil {
				return err
			}
			if _, err := addPoints(p, pts, errs, j, vg.Points(4), draw.CircleGlyph{}); err != nil {
				return err
			}
		}
		if err := save(p, dir, "sweep_"+m+".png"); err != nil {
			return err
		}
	}
	return nil
}

// rateMetric: metrics that are fractions in [0, 1] (SummaryMetrics).
func rateMetric(m string) bool {
	return strings.HasPrefix(m, "detected_") || strings.HasPrefix(m, "late_share_") ||
		strings.HasPrefix(m, "missed_share_") || m == "delivery_ratio"
}

// sweepBar is the error bar of a row below and above its mean. A rate's
// bar is clipped to [0, 1]: Student's t over three seeds of a rate near 1
// reaches past it, which a rate cannot (the tables keep the t interval).
func sweepBar(metric string, r AggRow) (low, high float64) {
	lo, hi := r.Lo, r.Hi
	if rateMetric(metric) {
		lo, hi = max(lo, 0), min(hi, 1)
	}
	return r.Mean - lo, hi - r.Mean
}

// sweepXAxis labels the x axis with the swept values as given (10ms,
// 100ms, ...) and makes it logarithmic when they are positive and span
// more than a decade.
func sweepXAxis(p *plot.Plot, xs []float64, labels []string) {
	ticks := make([]plot.Tick, len(xs))
	for i, x := range xs {
		ticks[i] = plot.Tick{Value: x, Label: strings.Trim(labels[i], `"`)}
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	if lo, hi := slices.Min(xs), slices.Max(xs); lo > 0 && hi/lo > 10 {
		p.X.Scale = plot.LogScale{}
		// Room for the outer points' error bars.
		p.X.Min, p.X.Max = lo/1.3, hi*1.3
	}
}
