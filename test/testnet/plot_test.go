package testnet

import (
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/plot"
	"time"
)

func TestPlotsAreValidPNGs(t *testing.T) {
	s := scenario(t, "nodes = 3\nduration = \"1h\"\n[graph]\nmodel = \"complete\"\n")
	g, _ := BuildGraph(s)
	meetings := []Meeting{{A: 0, B: 1, Dist: 50, Start: 0, End: time.Hour}}
	evs := []Event{
		{T: sec(5), Kind: KindNearby, Node: 0, Peer: 1},
		{T: sec(7), Kind: KindShared, Node: 0, Peer: -1, Item: "a", To: []int{1}},
		{T: sec(9), Kind: KindReceived, Node: 1, Peer: 0, Item: "a"},
	}
	samples := []Sample{
		{T: 0, NodeIn: []int64{0, 0, 0}, NodeOut: []int64{0, 0, 0}, Relays: []RelayStats{{}}},
		{T: sec(1800), NodeIn: []int64{10, 20, 30}, NodeOut: []int64{1, 2, 3}, Relays: []RelayStats{{StoredBytes: 100}}},
		{T: sec(3600), NodeIn: []int64{20, 40, 60}, NodeOut: []int64{2, 4, 6}, Relays: []RelayStats{{StoredBytes: 10}}},
	}
	for name, res := range map[string]*Result{
		"data":  NewResult(s, g, meetings, evs, samples),
		"empty": NewResult(s, g, nil, nil, nil),
	} {
		dir := t.TempDir()
		if err := WriteResults(dir, res, true); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		omitted, err := os.ReadFile(filepath.Join(dir, FileOmittedPlots))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range PlotFiles {
			fh, err := os.Open(filepath.Join(dir, f))
			if err != nil {
				// A plot without data is left out and the reason given.
				if !strings.Contains(string(omitted), f+": ") {
					t.Fatalf("%s: %s neither drawn nor explained: %v", name, f, err)
				}
				continue
			}
			img, err := png.Decode(fh)
			fh.Close()
			if err != nil {
				t.Fatalf("%s: %s is not a PNG: %v", name, f, err)
			}
			if b := img.Bounds(); b.Dx() < 600 || b.Dy() < 400 {
				t.Fatalf("%s: %s is %v", name, f, b)
			}
		}
		if name == "data" && strings.Contains(string(omitted), PlotTTDCDF) {
			t.Errorf("data: time to deliver omitted: %s", omitted)
		}
		if name == "empty" && !strings.Contains(string(omitted), PlotNodeTraffic) {
			t.Errorf("empty: all-zero traffic was drawn: %s", omitted)
		}
		for _, f := range []string{FileSummary, FileRun, FileEvents, FileMeetings, FileSamples, FileRelays, FileDetections, FileDeliveries, FileDetectionBins} {
			if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
	}
}

// TestInRangeTicks: no tick beyond the axis (gonum's LogTicks run on to
// the next power of ten, which left a blank band right of log-x plots).
func TestInRangeTicks(t *testing.T) {
	raw := plot.LogTicks{Prec: -1}.Ticks(1, 400)
	if raw[len(raw)-1].Value <= 400 {
		t.Skip("LogTicks no longer overshoots")
	}
	for _, tk := range (inRange{plot.LogTicks{Prec: -1}}).Ticks(1, 400) {
		if tk.Value < 1 || tk.Value > 400 {
			t.Errorf("tick %v outside [1, 400]", tk.Value)
		}
	}
}
