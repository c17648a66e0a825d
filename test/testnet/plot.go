package testnet

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"slices"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plot file names in the results directory.
const (
	PlotLatencyCDF  = "discovery_latency_cdf.png"
	PlotTTDCDF      = "time_to_deliver_cdf.png"
	PlotDetection   = "detection_by_distance.png"
	PlotRelayStore  = "relay_storage.png"
	PlotNodeTraffic = "node_bytes.png"
)

// PlotFiles lists every plot WritePlots makes.
var PlotFiles = []string{PlotLatencyCDF, PlotTTDCDF, PlotDetection, PlotRelayStore, PlotNodeTraffic}

var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff},
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, color.RGBA{0xd6, 0x27, 0x28, 0xff},
	color.RGBA{0x94, 0x67, 0xbd, 0xff},
}

// WritePlots draws the PNG plots of a run (6×4 in at 150 dpi, sized for
// a paper column).
func WritePlots(dir string, res *Result) error {
	s := res.Summary
	_, an := analysisOf(res)
	// Discovery latency CDF per distance.
	p := newPlot("Discovery latency", "latency (s)", "fraction of detected meetings")
	for i, row := range s.Meetings.ByDistance {
		if err := addLine(p, cdf(an.Latency[i]), fmt.Sprintf("≤ %g m", row.DistanceM), i); err != nil {
			return err
		}
	}
	if err := save(p, dir, PlotLatencyCDF); err != nil {
		return err
	}
	p = newPlot("Time to deliver", "time (s)", "fraction of delivered items")
	if err := addLine(p, cdf(an.TTD), "all paths", 0); err != nil {
		return err
	}
	for i, path := range PathOrder {
		if v := an.TTDByPath[path]; len(v) > 0 {
			if err := addLine(p, cdf(v), path, i+1); err != nil {
				return err
			}
		}
	}
	if err := save(p, dir, PlotTTDCDF); err != nil {
		return err
	}
	if res.scenario != nil {
		bins := DetectionCurve(res.scenario, res.Trials, Detections(res.Events, res.end()))
		if err := plotDetection(dir, res.scenario, bins); err != nil {
			return err
		}
	}
	p = newPlot("Relay storage", "time (h)", "KiB (all relays)")
	var stored, records plotter.XYs
	for _, sm := range res.Samples {
		var st, rb int64
		for _, r := range sm.Relays {
			st += r.StoredBytes
			rb += r.RecordBytes
		}
		h := float64(sm.T) / 3.6e6
		stored = append(stored, plotter.XY{X: h, Y: float64(st) / 1024})
		records = append(records, plotter.XY{X: h, Y: float64(rb) / 1024})
	}
	if err := addLine(p, stored, "mailbox blobs", 0); err != nil {
		return err
	}
	if err := addLine(p, records, "rendezvous records", 1); err != nil {
		return err
	}
	if err := save(p, dir, PlotRelayStore); err != nil {
		return err
	}
	p = newPlot("Node traffic", "time (h)", "KiB per node per hour")
	var in, out plotter.XYs
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
		nodes := float64(len(b.NodeIn))
		h := float64(b.T) / 3.6e6
		in = append(in, plotter.XY{X: h, Y: float64(di) / dh / nodes / 1024})
		out = append(out, plotter.XY{X: h, Y: float64(do) / dh / nodes / 1024})
	}
	if err := addLine(p, in, "received", 0); err != nil {
		return err
	}
	if err := addLine(p, out, "sent", 1); err != nil {
		return err
	}
	return save(p, dir, PlotNodeTraffic)
}

// analysisOf recomputes the distributions behind the summary.
func analysisOf(res *Result) (*Summary, *Analysis) {
	s := res.scenario
	if s == nil {
		return res.Summary, &Analysis{Latency: make([][]float64, len(res.Summary.Meetings.ByDistance))}
	}
	return Analyze(s, res.graph, res.Meetings, res.Events, res.Samples)
}

func newPlot(title, x, y string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = x
	p.Y.Label.Text = y
	p.Add(plotter.NewGrid())
	p.Legend.Top = false // bottom right: CDFs and series rise to the top right
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Points(8)
	p.Legend.YOffs = vg.Points(8)
	return p
}

// cdf is the empirical CDF of xs as a step line.
func cdf(xs []float64) plotter.XYs {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	out := make(plotter.XYs, 0, 2*len(xs))
	for i, x := range xs {
		out = append(out, plotter.XY{X: x, Y: float64(i) / float64(len(xs))},
			plotter.XY{X: x, Y: float64(i+1) / float64(len(xs))})
	}
	return out
}

func addLine(p *plot.Plot, xy plotter.XYs, name string, i int) error {
	if len(xy) == 0 {
		return nil
	}
	l, err := plotter.NewLine(xy)
	if err != nil {
		return fmt.Errorf("testnet: plot: %w", err)
	}
	l.Color = palette[i%len(palette)]
	l.Width = vg.Points(1.5)
	p.Add(l)
	if name != "" {
		p.Legend.Add(name, l)
	}
	return nil
}

func save(p *plot.Plot, dir, name string) error {
	if p.X.Min > p.X.Max { // no data: draw empty unit axes
		p.X.Min, p.X.Max = 0, 1
	}
	if p.Y.Min > p.Y.Max {
		p.Y.Min, p.Y.Max = 0, 1
	}
	c := vgimg.NewWith(vgimg.UseWH(6*vg.Inch, 4*vg.Inch), vgimg.UseDPI(150))
	p.Draw(draw.New(c))
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return fmt.Errorf("testnet: plot %s: %w", name, err)
	}
	if _, err := (vgimg.PngCanvas{Canvas: c}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("testnet: plot %s: %w", name, err)
	}
	return f.Close()
}

// plotDetection draws the binned detection probability against true
// distance: either side and both sides with 95 % Wilson intervals, the
// cell rule's reference curve, and n per bin along the top.
func plotDetection(dir string, s *Scenario, bins []DetectionBin) error {
	p := newPlot(fmt.Sprintf("Detection by distance (level %d, %s rule, lat %.2f)", s.Proximity.Level(), s.Proximity.Neighbours, s.Mobility.Lat),
		"true distance, mean over the epoch (m)", "P(detected) per pair-epoch")
	var ref plotter.XYs
	for _, b := range bins {
		ref = append(ref, plotter.XY{X: (b.FromM + b.ToM) / 2, Y: b.Reference})
	}
	if err := addLine(p, ref, "cell rule (reference)", 2); err != nil {
		return err
	}
	w := 0.15 * s.Metrics.Bin
	var labels plotter.XYLabels
	for k, side := range []string{"either side", "both sides"} {
		var pts plotter.XYs
		var errs plotter.YErrors
		for _, b := range bins {
			if b.N == 0 {
				continue
			}
			x := (b.FromM+b.ToM)/2 + float64(2*k-1)*w
			r, lo, hi := b.EitherRate, b.EitherLo, b.EitherHi
			if k == 1 {
				r, lo, hi = b.BothRate, b.BothLo, b.BothHi
			} else {
				labels.XYs = append(labels.XYs, plotter.XY{X: (b.FromM + b.ToM) / 2, Y: 1.04})
				labels.Labels = append(labels.Labels, fmt.Sprint(b.N))
			}
			pts = append(pts, plotter.XY{X: x, Y: r})
			errs = append(errs, struct{ Low, High float64 }{r - lo, hi - r})
		}
		if len(pts) == 0 {
			continue
		}
		eb, err := plotter.NewYErrorBars(struct {
			plotter.XYer
			plotter.YErrorer
		}{pts, errs})
		if err != nil {
			return fmt.Errorf("testnet: plot: %w", err)
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			return fmt.Errorf("testnet: plot: %w", err)
		}
		eb.Color, eb.CapWidth = palette[k], vg.Points(3)
		sc.Color, sc.Shape, sc.Radius = palette[k], draw.CircleGlyph{}, vg.Points(2.5)
		if k == 1 {
			sc.Shape = draw.TriangleGlyph{}
		}
		p.Add(eb, sc)
		p.Legend.Add(side+" (95 % Wilson)", sc)
	}
	if len(labels.XYs) > 0 {
		l, err := plotter.NewLabels(labels)
		if err != nil {
			return fmt.Errorf("testnet: plot: %w", err)
		}
		for i := range l.TextStyle {
			l.TextStyle[i].XAlign = draw.XCenter
			l.TextStyle[i].Font.Size = vg.Points(6)
		}
		p.Add(l)
	}
	p.X.Min, p.Y.Min, p.Y.Max = 0, 0, 1.08
	p.Legend.Top = true // the curves fall to the bottom right
	p.Legend.YOffs = -vg.Points(16)
	return save(p, dir, PlotDetection)
}
