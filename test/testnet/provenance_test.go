package testnet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestSetOverrides(t *testing.T) {
	small := filepath.Join("scenarios", "small.toml")
	s, err := LoadScenarioWith(small, []string{"seed=9", "workload.items_per_hour=2", "mobility.gathering.0.at=5m",
		`network.latency="30ms"`, "graph.model=scale-free", "metrics.distances=[25, 75]"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Seed != 9 || s.Workload.ItemsPerHour != 2 || s.Mobility.Gatherings[0].At.Duration != 5*time.Minute ||
		s.Network.Latency.Duration != 30*time.Millisecond || s.Graph.Model != GraphScaleFree ||
		!reflect.DeepEqual(s.Metrics.Distances, []float64{25, 75}) {
		t.Errorf("overrides not applied: %+v", s)
	}
	for _, bad := range []struct{ set, want string }{
		{"workload.itemz=2", "itemz"},               // unknown key, as in a file
		{"nodes=1", "nodes"},                        // validated as in a file
		{"mobility.gathering.7.at=1m", "element 7"}, // no such gathering
		{"noequals", "key=value"},
		{"seed.x=1", "not a table"},
	} {
		if _, err := LoadScenarioWith(small, []string{bad.set}); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("--set %s: error %v, want one naming %q", bad.set, err, bad.want)
		}
	}
}

// TestProvenanceRoundTrip: the resolved scenario.toml in a results
// directory parses back to the scenario that ran, input files are copied
// with their hashes, and provenance.json names seed, overrides and Go.
func TestProvenanceRoundTrip(t *testing.T) {
	dir := t.TempDir()
	edges := filepath.Join(dir, "friends.csv")
	os.WriteFile(edges, []byte("0,1\n1,2\n2,3\n"), 0o644)
	file := filepath.Join(dir, "s.toml")
	os.WriteFile(file, []byte("nodes = 4\n[graph]\nmodel = \"edges\"\nfile = \"friends.csv\"\n[[workload.offline]]\nnode = 1\nat = \"5m\"\n"), 0o644)
	for _, f := range []string{file, filepath.Join("scenarios", "small.toml"), filepath.Join("scenarios", "large.toml")} {
		s, err := LoadScenarioWith(f, []string{"seed=42"})
		if err != nil {
			t.Fatal(err)
		}
		out := t.TempDir()
		if err := WriteProvenance(out, s, Provenance{Tool: "test", Mode: "sim", Overrides: []string{"seed=42"}, ScenarioFile: f}); err != nil {
			t.Fatal(err)
		}
		back, err := LoadScenario(filepath.Join(out, FileScenario))
		if err != nil {
			t.Fatalf("%s: resolved scenario does not load: %v", f, err)
		}
		g1, err1 := BuildGraph(s)
		g2, err2 := BuildGraph(back)
		if err1 != nil || err2 != nil || !reflect.DeepEqual(g1.Edges, g2.Edges) {
			t.Errorf("%s: graph differs after the round trip (%v, %v)", f, err1, err2)
		}
		s.dir, back.dir = "", ""
		s.Graph.File, back.Graph.File = "", ""
		if !reflect.DeepEqual(s, back) {
			t.Errorf("%s: round trip differs:\n%+v\n%+v", f, s, back)
		}
		var p Provenance
		b, _ := os.ReadFile(filepath.Join(out, FileProvenance))
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		if p.Seed != 42 || p.GoVersion == "" || p.ScenarioSHA256 == "" || len(p.Overrides) != 1 {
			t.Errorf("%s: provenance %+v", f, p)
		}
		if f == file {
			if len(p.Inputs) != 1 || p.Inputs[0].Key != "graph.file" || p.Inputs[0].Bytes != 12 || p.Inputs[0].Copy == "" {
				t.Fatalf("inputs %+v", p.Inputs)
			}
			if _, err := os.Stat(filepath.Join(out, p.Inputs[0].Copy)); err != nil {
				t.Error(err)
			}
		}
	}
}
