package testnet

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// ReadEvents reads an events.jsonl file.
func ReadEvents(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("testnet: events: %w", err)
	}
	defer f.Close()
	var out []Event
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return nil, fmt.Errorf("testnet: events: line %d: %w", len(out)+1, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("testnet: events: %w", err)
	}
	return out, nil
}

// Redetect recomputes the detection curve of a results directory (its
// scenario.toml and events.jsonl: no rerun) and rewrites
// detection_by_distance.csv and, unless noPlots, its plot; overrides are
// applied to the scenario first (metrics.bin, proximity.neighbours for
// the reference, ...). It returns the bins.
func Redetect(dir string, overrides []string, noPlots bool) ([]DetectionBin, error) {
	s, err := LoadScenarioWith(filepath.Join(dir, FileScenario), overrides)
	if err != nil {
		return nil, err
	}
	evs, err := ReadEvents(filepath.Join(dir, FileEvents))
	if err != nil {
		return nil, err
	}
	g, err := BuildGraph(s)
	if err != nil {
		return nil, err
	}
	_, trials, err := TruthAndTrials(s, g, Plan(s, g))
	if err != nil {
		return nil, err
	}
	bins := DetectionCurve(s, trials, Detections(evs, s.Duration.Milliseconds()))
	if err := writeCSV(filepath.Join(dir, FileDetectionBins), detectionBinRows(bins)); err != nil {
		return nil, err
	}
	if !noPlots {
		if err := plotDetection(dir, s, bins); err != nil {
			return nil, err
		}
	}
	return bins, nil
}
