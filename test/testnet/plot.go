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
	p = newPlot("Detection rate by distance", "meeting distance (m)", "detected / meetings")
	var xy plotter.XYs
	for _, row := range s.Meetings.ByDistance {
		xy = append(xy, plotter.XY{X: row.DistanceM, Y: row.Rate})
	}
	if len(xy) > 0 {
		l, pts, err := plotter.NewLinePoints(xy)
		if err != nil {
			return fmt.Errorf("testnet: plot: %w", err)
		}
		l.Color, pts.Color = palette[0], palette[0]
		l.Width = vg.Points(1.5)
		pts.Shape = draw.CircleGlyph{}
		pts.Radius = vg.Points(3)
		p.Add(l, pts)
	}
	p.X.Min, p.Y.Min, p.Y.Max = 0, 0, 1
	if err := save(p, dir, PlotDetection); err != nil {
		return err
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
