package testnet

import (
	"errors"
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plot file names in the results directory.
const (
	PlotLatencyKM   = "discovery_latency_km.png"
	PlotTTDCDF      = "time_to_deliver_cdf.png"
	PlotDetection   = "detection_by_distance.png"
	PlotRelayStore  = "relay_storage.png"
	PlotNodeTraffic = "node_bytes.png"
	PlotNodeDist    = "node_bytes_dist.png"
	PlotContacts    = "contact_times_ccdf.png"
	PlotInterContct = "intercontact_times_ccdf.png"
	PlotFalse       = "detections_by_true_distance.png"
	// FileOmittedPlots lists the plots left out of a run and why (no data,
	// or all zero): "name: reason" a line.
	FileOmittedPlots = "plots_omitted.txt"
)

// PlotFiles lists every plot writePlots makes (when it has data).
var PlotFiles = []string{PlotLatencyKM, PlotTTDCDF, PlotDetection, PlotRelayStore, PlotNodeTraffic, PlotNodeDist,
	PlotContacts, PlotInterContct, PlotFalse, PlotLateShares, PlotLateDelay}

// palette is matplotlib's tab10.
var palette = []color.Color{
	color.RGBA{0x1f, 0x77, 0xb4, 0xff}, color.RGBA{0xff, 0x7f, 0x0e, 0xff},
	color.RGBA{0x2c, 0xa0, 0x2c, 0xff}, color.RGBA{0xd6, 0x27, 0x28, 0xff},
	color.RGBA{0x94, 0x67, 0xbd, 0xff}, color.RGBA{0x8c, 0x56, 0x4b, 0xff},
	color.RGBA{0xe3, 0x77, 0xc2, 0xff}, color.RGBA{0x7f, 0x7f, 0x7f, 0xff},
	color.RGBA{0xbc, 0xbd, 0x22, 0xff}, color.RGBA{0x17, 0xbe, 0xcf, 0xff},
}

// errNoData is returned by a plot function that has nothing to draw; the
// reason goes to FileOmittedPlots.
type errNoData string

func (e errNoData) Error() string { return string(e) }

// writePlots draws the PNG plots of a run (6×4 in at 150 dpi, sized for
// a paper column); bins are the run's detection curve and la its meeting
// outcomes (WriteResults has computed both already; la is nil without a
// scenario). A plot without data (or with only zeros) is not
// drawn; FileOmittedPlots says which and why.
func writePlots(dir string, res *Result, bins []DetectionBin, la *LateAnalysis) error {
	_, an := analysisOf(res)
	var omitted []string
	for _, pf := range []struct {
		name string
		f    func() error
	}{
		{PlotLatencyKM, func() error { return plotDiscoveryKM(dir, res, an) }},
		{PlotTTDCDF, func() error { return plotTTD(dir, res, an) }},
		{PlotDetection, func() error {
			if res.scenario == nil {
				return errNoData("no scenario")
			}
			return plotDetection(dir, res.scenario, bins)
		}},
		{PlotRelayStore, func() error { return plotRelayStorage(dir, res) }},
		{PlotNodeTraffic, func() error { return plotNodeTraffic(dir, res) }},
		{PlotNodeDist, func() error { return plotNodeDist(dir, res) }},
		{PlotContacts, func() error { return plotContacts(dir, res, false) }},
		{PlotInterContct, func() error { return plotContacts(dir, res, true) }},
		{PlotFalse, func() error { return plotTrueDistance(dir, res) }},
		{PlotLateShares, func() error { return plotLateShares(dir, res.Summary.Late) }},
		{PlotLateDelay, func() error {
			if la == nil {
				return errNoData("no scenario")
			}
			return plotLateDelay(dir, res.scenario, la)
		}},
	} {
		err := pf.f()
		var nd errNoData
		if errors.As(err, &nd) {
			omitted = append(omitted, pf.name+": "+string(nd))
			continue
		}
		if err != nil {
			return err
		}
	}
	var b strings.Builder
	for _, o := range omitted {
		b.WriteString(o + "\n")
	}
	return writeFile(filepath.Join(dir, FileOmittedPlots), []byte(b.String()))
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
	p.X.Tick.Marker, p.Y.Tick.Marker = cleanTicks{}, cleanTicks{}
	p.Add(plotter.NewGrid())
	p.Legend.Top = false // bottom right: CDFs and series rise to the top right
	p.Legend.Left = false
	p.Legend.XOffs = -vg.Points(8)
	p.Legend.YOffs = vg.Points(8)
	return p
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
	for _, ax := range []*plot.Axis{&p.X, &p.Y} {
		if _, ok := ax.Scale.(plot.LogScale); ok {
			fixLogRange(&ax.Min, &ax.Max)
			if ax.Max/ax.Min < 30 {
				// Less than a decade and a half: a linear axis reads better.
				ax.Scale, ax.Tick.Marker = plot.LinearScale{}, cleanTicks{}
				ax.Label.Text = strings.Replace(ax.Label.Text, ", log)", ")", 1)
				ax.Label.Text = strings.Replace(ax.Label.Text, " (log)", "", 1)
			}
		}
	}
	c := vgimg.NewWith(vgimg.UseWH(6*vg.Inch, 4*vg.Inch), vgimg.UseDPI(150))
	dc := draw.New(c)
	// gonum (v0.17) reserves room for the x label centred on the axis's
	// arithmetic middle, which on a log axis lies near its right end: the
	// plot shrank by half the label's width, a blank band on the right.
	// A blank label keeps the label's height; the text is drawn under the
	// data area's centre afterwards.
	label := p.X.Label.Text
	_, logx := p.X.Scale.(plot.LogScale)
	if logx && label != "" {
		p.X.Label.Text = " "
	}
	p.Draw(dc)
	if logx && label != "" {
		da := p.DataCanvas(dc)
		descent := p.X.Label.TextStyle.FontExtents().Descent
		dc.FillText(p.X.Label.TextStyle, vg.Point{X: da.Center().X, Y: dc.Min.Y + descent}, label)
		p.X.Label.Text = label
	}
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
		"true distance: closest epoch mean in the nearby window (m)", "P(shown nearby) per pair-epoch")
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
		var shape draw.GlyphDrawer = draw.CircleGlyph{}
		if k == 1 {
			shape = draw.TriangleGlyph{}
		}
		sc, err := addPoints(p, pts, errs, k, vg.Points(3), shape)
		if err != nil {
			return err
		}
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

// addPoints draws pts as markers with their error bars in palette
// colour i.
func addPoints(p *plot.Plot, pts plotter.XYs, errs plotter.YErrors, i int, capWidth vg.Length, shape draw.GlyphDrawer) (*plotter.Scatter, error) {
	eb, err := plotter.NewYErrorBars(struct {
		plotter.XYer
		plotter.YErrorer
	}{pts, errs})
	if err != nil {
		return nil, fmt.Errorf("testnet: plot: %w", err)
	}
	sc, err := plotter.NewScatter(pts)
	if err != nil {
		return nil, fmt.Errorf("testnet: plot: %w", err)
	}
	c := palette[i%len(palette)]
	eb.Color, eb.CapWidth = c, capWidth
	sc.Color, sc.Shape, sc.Radius = c, shape, vg.Points(2.5)
	p.Add(eb, sc)
	return sc, nil
}

// fixLogRange makes a log axis's range positive and non-empty (gonum
// widens an empty range by ±1, which goes below zero).
func fixLogRange(lo, hi *float64) {
	if !(*hi > 0) {
		*lo, *hi = 1, 10
	}
	if !(*lo > 0) {
		*lo = *hi / 1000
	}
	if *lo == *hi {
		*lo, *hi = *lo/2, *hi*2
	}
}

// cleanTicks are gonum's default ticks labelled without padding zeros
// ("250", "0.5", not "250.00").
type cleanTicks struct{}

func (cleanTicks) Ticks(lo, hi float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'g', 6, 64)
		}
	}
	return ts
}

// UnexplainedPlots are the PlotFiles of a results directory that are
// neither drawn nor listed in FileOmittedPlots (tests use it).
func UnexplainedPlots(dir string) []string {
	omitted, _ := os.ReadFile(filepath.Join(dir, FileOmittedPlots))
	var out []string
	for _, f := range PlotFiles {
		if st, err := os.Stat(filepath.Join(dir, f)); err == nil && st.Size() > 0 {
			continue
		}
		if !strings.Contains(string(omitted), f+": ") {
			out = append(out, f)
		}
	}
	return out
}
