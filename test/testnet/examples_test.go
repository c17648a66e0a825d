package testnet

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The committed examples under scenarios/ are what docs/testnet.md quotes
// and shows. These tests keep them honest without rerunning a network:
// everything of an example that follows from its scenario and its event
// log (ground truth, detections, deliveries, outcomes, the detection
// curve, the summary but for traffic and relay samples) is recomputed
// with the current analysis code and compared byte for byte, and each
// example's scenario.toml must be its shipped scenario as resolved now.
// A change to a shipped scenario, to a default or to the analysis (a new
// summary section) fails here until `make examples` (scripts/
// testnet-examples.sh) regenerates the examples. What they do not catch:
// node or relay code that would now behave differently (that needs the
// rerun itself; the script does it).

// committedExamples are the examples with an event log: directory and the
// shipped scenario that made it.
var committedExamples = []struct{ dir, scenario string }{
	{"scenarios/example-simnet-small", "scenarios/small.toml"},
	{"scenarios/example-festival", "scenarios/festival.toml"},
}

func TestCommittedExamplesCurrent(t *testing.T) {
	for _, ex := range committedExamples {
		t.Run(filepath.Base(ex.dir), func(t *testing.T) {
			checkExample(t, ex.dir, ex.scenario)
		})
	}
}

func checkExample(t *testing.T, dir, shipped string) {
	// The resolved scenario: what WriteProvenance writes for the shipped
	// file today.
	s0, err := LoadScenario(shipped)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if err := WriteProvenance(tmp, s0, Provenance{ScenarioFile: shipped}); err != nil {
		t.Fatal(err)
	}
	sameFile(t, filepath.Join(tmp, FileScenario), filepath.Join(dir, FileScenario),
		"the shipped scenario resolves differently now (changed file or defaults)")

	s, err := LoadScenario(filepath.Join(dir, FileScenario))
	if err != nil {
		t.Fatal(err)
	}
	g, err := BuildGraph(s)
	if err != nil {
		t.Fatal(err)
	}
	meetings, trials, err := TruthAndTrials(s, g, Plan(s, g))
	if err != nil {
		t.Fatal(err)
	}
	evs, err := ReadEvents(filepath.Join(dir, FileEvents))
	if err != nil {
		t.Fatal(err)
	}
	end := s.Duration.Milliseconds()
	dets := Detections(evs, end)
	_, la := Classify(s, meetings, evs)
	for _, f := range []struct {
		name string
		rows [][]string
	}{
		{FileMeetings, meetingRows(meetings)},
		{FileDetections, detectionRows(dets)},
		{FileDeliveries, deliveryRows(Deliveries(evs))},
		{FileOutcomes, outcomeRows(la.Outcomes)},
		{FileDetectionBins, detectionBinRows(DetectionCurve(s, trials, dets))},
	} {
		sameBytes(t, csvBytes(t, f.rows), filepath.Join(dir, f.name), "recomputed from scenario.toml and events.jsonl")
	}

	var old Summary
	raw := decodeStrict(t, filepath.Join(dir, FileSummary), &old)
	sum := Summarize(s, g, meetings, evs, nil)
	// Traffic and relay figures come from per-node samples that the
	// results keep only as totals: taken as committed.
	sum.Mode, sum.Traffic, sum.Relay = old.Mode, old.Traffic, old.Relay
	got, err := json.MarshalIndent(sum, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(append(got, '\n'), raw) {
		t.Errorf("%s: summary.json is not what the current analysis makes of the example's events (regenerate: make examples)\n%s",
			dir, firstDiff(string(raw), string(got)+"\n"))
	}
}

// TestCommittedSummariesCurrent: every committed summary, also those
// without an event log (example-small, the real-time worked example, when
// make examples could keep it), has every section the code writes today
// and none it no longer writes.
func TestCommittedSummariesCurrent(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("scenarios", "example-*", FileSummary))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range paths {
		var sum Summary
		raw := decodeStrict(t, path, &sum)
		got, err := json.MarshalIndent(sum, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(append(got, '\n'), raw) {
			t.Errorf("%s lacks fields the code writes now (regenerate: make examples)\n%s", path, firstDiff(string(raw), string(got)+"\n"))
		}
	}
}

// TestCommittedSweepCurrent: the sweep example has the columns a sweep
// writes today.
func TestCommittedSweepCurrent(t *testing.T) {
	s, err := LoadScenario(filepath.Join("simnet", "testdata", "small.toml"))
	if err != nil {
		t.Fatal(err)
	}
	g, err := BuildGraph(s)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"point", "seed"}
	for _, m := range SummaryMetrics(Summarize(s, g, nil, nil, nil)) {
		want = append(want, m.Name)
	}
	f, err := os.Open(filepath.Join("scenarios", "example-sweep", FileSweepRuns))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	head, err := csv.NewReader(f).Read()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(head, ",") != strings.Join(want, ",") {
		t.Errorf("example-sweep/%s columns\n got %v\nwant %v\n(regenerate: make examples)", FileSweepRuns, head, want)
	}
}

func decodeStrict(t *testing.T, path string, v any) []byte {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		t.Fatalf("%s: %v (a field the code no longer writes: regenerate with make examples)", path, err)
	}
	return raw
}

func csvBytes(t *testing.T, rows [][]string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(rows); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sameFile(t *testing.T, gotPath, wantPath, why string) {
	t.Helper()
	got, err := os.ReadFile(gotPath)
	if err != nil {
		t.Fatal(err)
	}
	sameBytes(t, got, wantPath, why)
}

func sameBytes(t *testing.T, got []byte, path, why string) {
	t.Helper()
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what is %s (regenerate: make examples)\n%s", path, why, firstDiff(string(want), string(got)))
	}
}

// firstDiff shows the first differing line of two texts.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return "line " + itoa(int64(i+1)) + ":\n committed: " + x + "\n now:       " + y
		}
	}
	return "(same lines)"
}
