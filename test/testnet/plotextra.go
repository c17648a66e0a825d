package testnet

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// The plots a paper needs beyond the summary: survival-style discovery
// latency, delivery per path on a log axis with what never arrived,
// traffic as a distribution and by class, storage per relay with
// restarts, contact and inter-contact times (as ONE reports them), and
// the true distance of every detection.

// kaplanMeier is 1 − S(t), the fraction discovered by t, as a step line:
// events are detection latencies, censored the times missed meetings were
// watched.
func kaplanMeier(events, censored []float64) plotter.XYs {
	type obs struct {
		t     float64
		event bool
	}
	var all []obs
	for _, e := range events {
		all = append(all, obs{e, true})
	}
	for _, c := range censored {
		all = append(all, obs{c, false})
	}
	slices.SortFunc(all, func(a, b obs) int {
		if a.t != b.t {
			return cmp.Compare(a.t, b.t)
		}
		if a.event != b.event { // events before censorings at the same time
			if a.event {
				return -1
			}
			return 1
		}
		return 0
	})
	surv, atRisk := 1.0, len(all)
	out := plotter.XYs{{X: 0, Y: 0}}
	for i := 0; i < len(all); {
		t, d, c := all[i].t, 0, 0
		for ; i < len(all) && all[i].t == t; i++ {
			if all[i].event {
				d++
			} else {
				c++
			}
		}
		if d > 0 {
			out = append(out, plotter.XY{X: t, Y: 1 - surv})
			surv *= 1 - float64(d)/float64(atRisk)
			out = append(out, plotter.XY{X: t, Y: 1 - surv})
		}
		atRisk -= d + c
	}
	if len(all) > 0 {
		out = append(out, plotter.XY{X: all[len(all)-1].t, Y: 1 - surv})
	}
	return out
}

func plotDiscoveryKM(dir string, res *Result, an *Analysis) error {
	s := res.Summary
	p := newPlot("Discovery latency (Kaplan–Meier, misses censored)", "time since the meeting began (s)", "fraction of meetings discovered")
	drawn := false
	for i, row := range s.Meetings.ByDistance {
		if i >= len(an.Latency) || row.Meetings == 0 {
			continue
		}
		var cens []float64
		if i < len(an.Censored) {
			cens = an.Censored[i]
		}
		name := fmt.Sprintf("≤ %g m (n=%d, %d missed)", row.DistanceM, row.Meetings, row.Missed)
		if err := addLine(p, kaplanMeier(an.Latency[i], cens), name, i); err != nil {
			return err
		}
		drawn = true
	}
	if !drawn {
		return errNoData("no meeting lasted min_meeting")
	}
	p.Y.Min, p.Y.Max = 0, 1
	return save(p, dir, PlotLatencyKM)
}

// logCDF is a CDF of xs scaled to total on a log x axis (values below
// floor are drawn at floor).
func logCDF(xs []float64, total int, floor float64) plotter.XYs {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	out := make(plotter.XYs, 0, 2*len(xs))
	for i, x := range xs {
		x = math.Max(x, floor)
		out = append(out, plotter.XY{X: x, Y: float64(i) / float64(total)}, plotter.XY{X: x, Y: float64(i+1) / float64(total)})
	}
	return out
}

func logX(p *plot.Plot) {
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = inRange{plot.LogTicks{Prec: -1}}
}

func logY(p *plot.Plot) {
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = inRange{plot.LogTicks{Prec: -1}}
}

// inRange drops ticks outside the axis. gonum's LogTicks go on to the
// next power of ten, and the plot reserves room for the label of that
// tick although it is never drawn: a blank fifth on the right of every
// log-x plot.
type inRange struct{ plot.Ticker }

func (t inRange) Ticks(lo, hi float64) []plot.Tick {
	ts := t.Ticker.Ticks(lo, hi)
	out := ts[:0]
	for _, tk := range ts {
		if tk.Value >= lo*(1-1e-9) && tk.Value <= hi*(1+1e-9) {
			out = append(out, tk)
		}
	}
	return out
}

// unitTicks label a probability axis 0 to 1 in quarters, whatever room
// above 1 the plot keeps for its legend.
func unitTicks(p *plot.Plot) {
	var ts []plot.Tick
	for v := 0.0; v <= 1; v += 0.125 {
		l := ""
		if math.Mod(v, 0.25) == 0 {
			l = strconv.FormatFloat(v, 'g', -1, 64)
		}
		ts = append(ts, plot.Tick{Value: v, Label: l})
	}
	p.Y.Tick.Marker = plot.ConstantTicks(ts)
}

func plotTTD(dir string, res *Result, an *Analysis) error {
	d := res.Summary.Delivery
	if d.Recipients == 0 {
		return errNoData("no items were shared")
	}
	title := fmt.Sprintf("Time to deliver: %d of %d copies; undelivered %d", d.Delivered, d.Recipients, d.Undelivered)
	p := newPlot(title, "time from share to receipt (s, log)", "fraction of all item copies")
	logX(p)
	const floor = 0.01
	if err := addLine(p, logCDF(an.TTD, d.Recipients, floor), "all paths", 0); err != nil {
		return err
	}
	for i, path := range PathOrder {
		if v := an.TTDByPath[path]; len(v) > 0 {
			if err := addLine(p, logCDF(v, d.Recipients, floor), fmt.Sprintf("%s (%d)", path, len(v)), i+1); err != nil {
				return err
			}
		}
	}
	if d.Undelivered > 0 && len(an.TTD) > 0 {
		// The gap above the "all paths" plateau is what never arrived.
		top := plotter.XYs{{X: floor, Y: 1}, {X: math.Max(an.TTD[len(an.TTD)-1], 10*floor), Y: 1}}
		l, err := plotter.NewLine(top)
		if err != nil {
			return fmt.Errorf("testnet: plot: %w", err)
		}
		l.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		l.Color = palette[7]
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("undelivered %d: offline at end %d, in flight %d, lost %d",
			d.Undelivered, d.UndeliveredOfflineAtEnd, d.UndeliveredInFlight, d.Lost), l)
	}
	p.Y.Min, p.Y.Max = 0, 1.02
	p.Legend.Left, p.Legend.Top = true, true
	p.Legend.XOffs, p.Legend.YOffs = vg.Points(8), -vg.Points(8)
	return save(p, dir, PlotTTDCDF)
}

func plotRelayStorage(dir string, res *Result) error {
	if len(res.Samples) == 0 || len(res.Samples[0].Relays) == 0 {
		return errNoData("no relay samples")
	}
	n := len(res.Samples[0].Relays)
	p := newPlot("Mailbox storage per relay", "time (h)", "KiB stored")
	any := false
	for r := 0; r < n; r++ {
		var xy plotter.XYs
		for _, sm := range res.Samples {
			if r < len(sm.Relays) {
				xy = append(xy, plotter.XY{X: float64(sm.T) / 3.6e6, Y: float64(sm.Relays[r].StoredBytes) / 1024})
				any = any || sm.Relays[r].StoredBytes > 0
			}
		}
		name := fmt.Sprintf("relay %d", r)
		if n > len(palette) {
			name = "" // a legend of dozens of relays says nothing
		}
		if err := addLine(p, xy, name, r); err != nil {
			return err
		}
	}
	if !any {
		return errNoData("no relay stored anything (every item went live)")
	}
	if s := res.scenario; s != nil {
		for i, rr := range s.Workload.RelayRestarts {
			h := rr.At.Hours()
			l, err := plotter.NewLine(plotter.XYs{{X: h, Y: 0}, {X: h, Y: maxStored(res) / 1024}})
			if err != nil {
				return fmt.Errorf("testnet: plot: %w", err)
			}
			l.Color, l.Dashes = palette[rr.Relay%len(palette)], []vg.Length{vg.Points(2), vg.Points(2)}
			p.Add(l)
			if i == 0 {
				p.Legend.Add("relay restart", l)
			}
		}
	}
	p.Y.Min, p.Y.Max = 0, maxStored(res)/1024*1.2
	p.Legend.Top = true
	p.Legend.YOffs = -vg.Points(6)
	return save(p, dir, PlotRelayStore)
}

func maxStored(res *Result) float64 {
	m := 0.0
	for _, sm := range res.Samples {
		for _, r := range sm.Relays {
			m = math.Max(m, float64(r.StoredBytes))
		}
	}
	return m
}

func plotNodeTraffic(dir string, res *Result) error {
	p := newPlot("Node traffic over time", "time (h)", "KiB per node per hour")
	var in, out plotter.XYs
	any := false
	for i := 1; i < len(res.Samples); i++ {
		a, b := res.Samples[i-1], res.Samples[i]
		dh := float64(b.T-a.T) / 3.6e6
		if dh <= 0 || len(b.NodeIn) == 0 {
			continue
		}
		var di, do int64
		for n := range b.NodeIn {
			di += b.NodeIn[n] - a.NodeIn[n]
			do += b.NodeOut[n] - a.NodeOut[n]
		}
		any = any || di != 0 || do != 0
		nodes := float64(len(b.NodeIn))
		h := float64(b.T) / 3.6e6
		in = append(in, plotter.XY{X: h, Y: float64(di) / dh / nodes / 1024})
		out = append(out, plotter.XY{X: h, Y: float64(do) / dh / nodes / 1024})
	}
	if !any {
		return errNoData(noBytes(res))
	}
	if err := addLine(p, in, "received", 0); err != nil {
		return err
	}
	if err := addLine(p, out, "sent", 1); err != nil {
		return err
	}
	return save(p, dir, PlotNodeTraffic)
}

func noBytes(res *Result) string {
	if res.Summary != nil && res.Summary.Mode == "sim" {
		return "bytes are not counted in mode sim (the node builds its own loopback host); use simnet"
	}
	return "every byte counter stayed 0"
}

// plotNodeDist is the distribution of bytes per node and hour (received
// plus sent) over nodes, overall and by friend-count class.
func plotNodeDist(dir string, res *Result) error {
	s := res.scenario
	if s == nil || len(res.Samples) == 0 {
		return errNoData("no samples")
	}
	in, out := PerNodeHour(s, res.Samples)
	total := make([]float64, len(in))
	any := false
	for i := range in {
		total[i] = (in[i] + out[i]) / 1024
		any = any || total[i] > 0
	}
	if !any {
		return errNoData(noBytes(res))
	}
	p := newPlot("Traffic per node (received + sent)", "KiB per hour (log)", "fraction of nodes")
	logX(p)
	if err := addLine(p, logCDF(total, len(total), 0.1), fmt.Sprintf("all %d nodes", len(total)), 0); err != nil {
		return err
	}
	if g := res.graph; g != nil {
		classes := []struct {
			name   string
			lo, hi int
		}{{"1–3 friends", 1, 3}, {"4–7 friends", 4, 7}, {"8–15 friends", 8, 15}, {"16+ friends", 16, math.MaxInt}}
		for ci, c := range classes {
			var v []float64
			for i := range total {
				if d := g.Degree(i); d >= c.lo && d <= c.hi {
					v = append(v, total[i])
				}
			}
			if len(v) > 0 {
				if err := addLine(p, logCDF(v, len(v), 0.1), fmt.Sprintf("%s (%d)", c.name, len(v)), ci+1); err != nil {
					return err
				}
			}
		}
	}
	p.Y.Min, p.Y.Max = 0, 1
	return save(p, dir, PlotNodeDist)
}

// ContactTimes are the meeting lengths and the gaps between consecutive
// meetings of one pair, in seconds, at distance d (ONE's contact and
// inter-contact times, with "within d" as the contact).
func ContactTimes(meetings []Meeting, d float64) (contacts, inter []float64) {
	last := map[uint64]time.Duration{}
	ms := slices.Clone(meetings)
	slices.SortFunc(ms, func(a, b Meeting) int { return cmp.Compare(float64(a.Start), float64(b.Start)) })
	for _, m := range ms {
		if m.Dist != d {
			continue
		}
		contacts = append(contacts, m.Duration().Seconds())
		k := Edge{m.A, m.B}.Key()
		if end, ok := last[k]; ok {
			inter = append(inter, (m.Start - end).Seconds())
		}
		last[k] = m.End
	}
	return contacts, inter
}

// ccdf is P(X > x) without its final zero (log axes).
func ccdf(xs []float64) plotter.XYs {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	var out plotter.XYs
	for i, x := range xs {
		if y := 1 - float64(i+1)/float64(len(xs)); y > 0 && x > 0 {
			out = append(out, plotter.XY{X: x, Y: y})
		}
	}
	return out
}

func plotContacts(dir string, res *Result, inter bool) error {
	s := res.scenario
	if s == nil {
		return errNoData("no scenario")
	}
	name, title := PlotContacts, "Contact times (CCDF)"
	if inter {
		name, title = PlotInterContct, "Inter-contact times (CCDF)"
	}
	p := newPlot(title, "seconds (log)", "P(X > x) (log)")
	logX(p)
	logY(p)
	drawn := false
	for i, d := range s.Thresholds() {
		c, ic := ContactTimes(res.Meetings, d)
		v := c
		if inter {
			v = ic
		}
		xy := ccdf(v)
		if len(xy) < 2 {
			continue
		}
		if err := addLine(p, xy, fmt.Sprintf("within %g m (%d)", d, len(v)), i); err != nil {
			return err
		}
		drawn = true
	}
	if !drawn {
		if inter {
			return errNoData("no pair met twice")
		}
		return errNoData("fewer than two meetings")
	}
	p.Legend.Left, p.Legend.Top = true, false
	p.Legend.XOffs = vg.Points(8)
	p.Y.Max = 1 // a CCDF starts at 1: keep that tick labelled
	return save(p, dir, name)
}

// DetectionDistances is the true distance of the pair at every
// friend_nearby event (at the step before it), NaN when either side had
// no position: a second walk of the mobility model.
func DetectionDistances(s *Scenario, g *Graph, events []Event) ([]float64, error) {
	mob, err := NewMobility(s)
	if err != nil {
		return nil, err
	}
	mob = MaskOffline(mob, Plan(s, g))
	var near []Event
	for _, e := range events {
		if e.Kind == KindNearby && e.Peer >= 0 {
			near = append(near, e)
		}
	}
	out := make([]float64, 0, len(near))
	pos := make([]Point, s.Nodes)
	step := s.Step.Duration
	j := 0
	for k := 0; k < s.Steps() && j < len(near); k++ {
		t := time.Duration(k) * step
		mob.Positions(t, pos)
		for ; j < len(near) && time.Duration(near[j].T)*time.Millisecond < t+step; j++ {
			a, b := pos[near[j].Node], pos[near[j].Peer]
			if !a.Valid() || !b.Valid() {
				out = append(out, math.NaN())
				continue
			}
			out = append(out, a.Dist(b))
		}
	}
	return out, nil
}

func plotTrueDistance(dir string, res *Result) error {
	s := res.scenario
	if s == nil || res.graph == nil {
		return errNoData("no scenario")
	}
	ds, err := DetectionDistances(s, res.graph, res.Events)
	if err != nil {
		return err
	}
	w := s.Metrics.Bin
	top := math.Max(s.Metrics.FalseDistance*1.5, s.Metrics.BinMax)
	nb := int(math.Ceil(top / w))
	counts := make([]float64, nb+1)
	beyond, n := 0, 0
	for _, d := range ds {
		if math.IsNaN(d) {
			continue
		}
		n++
		if d > s.Metrics.FalseDistance {
			beyond++
		}
		counts[min(int(d/w), nb)]++
	}
	if n == 0 {
		return errNoData("no friend_nearby events")
	}
	p := newPlot(fmt.Sprintf("True distance at detection: %d detections, %d beyond %g m", n, beyond, s.Metrics.FalseDistance),
		fmt.Sprintf("true distance at friend_nearby (m; last bin: ≥ %g)", float64(nb)*w), "detections")
	var xy plotter.XYs
	for i, c := range counts {
		xy = append(xy, plotter.XY{X: float64(i) * w, Y: c}, plotter.XY{X: float64(i+1) * w, Y: c})
	}
	if err := addLine(p, xy, "", 0); err != nil {
		return err
	}
	ymax := slices.Max(counts)
	l, err := plotter.NewLine(plotter.XYs{{X: s.Metrics.FalseDistance, Y: 0}, {X: s.Metrics.FalseDistance, Y: ymax}})
	if err != nil {
		return fmt.Errorf("testnet: plot: %w", err)
	}
	l.Color, l.Dashes = palette[3], []vg.Length{vg.Points(3), vg.Points(3)}
	p.Add(l)
	p.Legend.Add("false_distance", l)
	p.Legend.Top = true
	p.Legend.YOffs = -vg.Points(6)
	p.X.Min, p.Y.Min, p.Y.Max = 0, 0, ymax*1.15
	return save(p, dir, PlotFalse)
}
