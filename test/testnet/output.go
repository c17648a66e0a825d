package testnet

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// Output file names in the results directory.
const (
	FileSummary  = "summary.json"
	FileRun      = "run.json"
	FileEvents   = "events.jsonl"
	FileMeetings = "meetings.csv"
	FileSamples  = "samples.csv"
	FileRelays   = "relays.csv"
	FileNetwork  = "network.json"
)

// RunInfo is run.json: what the run cost on this machine (not
// reproducible, hence apart from the summary).
type RunInfo struct {
	WallSeconds   float64 `json:"wall_seconds"`
	PeakHeapBytes int64   `json:"peak_heap_bytes"`
	// MaxLagSeconds is how far (virtual seconds) the run fell behind its
	// clock; above one step, lower network.speedup.
	MaxLagSeconds float64 `json:"max_lag_s"`
	GoVersion     string  `json:"go_version"`
	// PeakRSSBytes is the process's peak resident memory (Linux VmHWM),
	// when the backend reports it (simnet).
	PeakRSSBytes int64 `json:"peak_rss_bytes,omitempty"`
	// VirtualTime is true when the run's clock was virtual
	// (testing/synctest): WallSeconds is then measured outside it.
	VirtualTime bool `json:"virtual_time,omitempty"`
}

// WriteRunInfo rewrites run.json in dir, for a backend that measures the
// run from outside (simnet: time inside a synctest bubble is virtual).
func WriteRunInfo(dir string, info RunInfo) error {
	return writeJSON(filepath.Join(dir, FileRun), info)
}

// WriteResults writes every output file of res into dir.
func WriteResults(dir string, res *Result, plots bool) error {
	if err := writeJSON(filepath.Join(dir, FileSummary), res.Summary); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(dir, FileRun), res.Run); err != nil {
		return err
	}
	if res.Network != nil {
		if err := writeJSON(filepath.Join(dir, FileNetwork), res.Network); err != nil {
			return err
		}
	}
	if err := writeEvents(filepath.Join(dir, FileEvents), res.Events); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(dir, FileMeetings), meetingRows(res.Meetings)); err != nil {
		return err
	}
	dets := Detections(res.Events, res.end())
	if err := writeCSV(filepath.Join(dir, FileDetections), detectionRows(dets)); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(dir, FileDeliveries), deliveryRows(Deliveries(res.Events))); err != nil {
		return err
	}
	var bins []DetectionBin
	var la *LateAnalysis
	if res.scenario != nil {
		_, la = Classify(res.scenario, res.Meetings, res.Events)
		if err := writeCSV(filepath.Join(dir, FileOutcomes), outcomeRows(la.Outcomes)); err != nil {
			return err
		}
		bins = DetectionCurve(res.scenario, res.Trials, dets)
		if err := writeCSV(filepath.Join(dir, FileDetectionBins), detectionBinRows(bins)); err != nil {
			return err
		}
	}
	if err := writeCSV(filepath.Join(dir, FileSamples), sampleRows(res.Samples)); err != nil {
		return err
	}
	if err := writeCSV(filepath.Join(dir, FileRelays), relayRows(res.Samples)); err != nil {
		return err
	}
	if plots {
		return writePlots(dir, res, bins, la)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("testnet: %s: %w", filepath.Base(path), err)
	}
	return writeFile(path, append(b, '\n'))
}

func writeFile(path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return fmt.Errorf("testnet: write results: %w", err)
	}
	return nil
}

func writeEvents(path string, evs []Event) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("testnet: write results: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := range evs {
		if err := enc.Encode(&evs[i]); err != nil {
			f.Close()
			return fmt.Errorf("testnet: events: %w", err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("testnet: events: %w", err)
	}
	return f.Close()
}

func writeCSV(path string, rows [][]string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("testnet: write results: %w", err)
	}
	w := csv.NewWriter(f)
	if err := w.WriteAll(rows); err != nil {
		f.Close()
		return fmt.Errorf("testnet: %s: %w", filepath.Base(path), err)
	}
	return f.Close()
}

func ftoa(x float64) string { return strconv.FormatFloat(x, 'f', -1, 64) }
func itoa(x int64) string   { return strconv.FormatInt(x, 10) }

func meetingRows(ms []Meeting) [][]string {
	rows := [][]string{{"a", "b", "distance_m", "start_s", "end_s", "min_dist_m"}}
	for _, m := range ms {
		rows = append(rows, []string{itoa(int64(m.A)), itoa(int64(m.B)), ftoa(m.Dist),
			ftoa(m.Start.Seconds()), ftoa(m.End.Seconds()), ftoa(round(m.MinDist))})
	}
	return rows
}

func sampleRows(ss []Sample) [][]string {
	rows := [][]string{{"t_s", "nodes_bytes_in", "nodes_bytes_out", "heap_bytes"}}
	for _, s := range ss {
		var in, out int64
		for i := range s.NodeIn {
			in += s.NodeIn[i]
			out += s.NodeOut[i]
		}
		rows = append(rows, []string{ftoa(float64(s.T) / 1000), itoa(in), itoa(out), itoa(s.HeapBytes)})
	}
	return rows
}

func relayRows(ss []Sample) [][]string {
	rows := [][]string{{"t_s", "relay", "stored_bytes", "stored_blobs", "file_bytes", "rendezvous_entries", "record_bytes", "bytes_in", "bytes_out", "memory_bytes"}}
	for _, s := range ss {
		for i, r := range s.Relays {
			rows = append(rows, []string{ftoa(float64(s.T) / 1000), itoa(int64(i)), itoa(r.StoredBytes), itoa(r.StoredBlobs),
				itoa(r.FileBytes), itoa(r.RendezvousEntries), itoa(r.RecordBytes), itoa(r.BytesIn), itoa(r.BytesOut), itoa(r.MemoryBytes)})
		}
	}
	return rows
}
