package testnet

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestScenarioDefaults(t *testing.T) {
	s, err := ParseScenario([]byte(""), "")
	if err != nil {
		t.Fatal(err)
	}
	d := DefaultScenario()
	if s.Nodes != 20 || s.Relays != 1 || s.Epoch.Duration != 10*time.Minute || s.Graph.Model != GraphSmallWorld ||
		s.Mobility.Model != MobilityWaypoint || s.Workload.Policy != PolicyAllFriends {
		t.Fatalf("defaults: %+v", s)
	}
	if s.Metrics.MinMeeting != s.Epoch || s.Metrics.Slack != s.Epoch || len(s.Metrics.Distances) != 3 {
		t.Fatalf("derived defaults: %+v", s.Metrics)
	}
	if s.Network.Transport != "quic" {
		t.Fatalf("network.transport defaults to %q, want quic", s.Network.Transport)
	}
	if d.Nodes != s.Nodes || d.Metrics.MinMeeting != s.Metrics.MinMeeting {
		t.Fatal("DefaultScenario differs from an empty file")
	}
}

func TestScenarioOverrides(t *testing.T) {
	s, err := ParseScenario([]byte(`
nodes = 50
epoch = "2m"
[workload]
items_per_hour = 0
offline_fraction = 0
[[workload.relay_restart]]
relay = 0
at = "5m"
[metrics]
distances = [100]
[mobility]
model = "gatherings"
[[mobility.gathering]]
nodes = [1, 2]
`), "")
	if err != nil {
		t.Fatal(err)
	}
	if s.Nodes != 50 || s.Epoch.Duration != 2*time.Minute || s.Metrics.MinMeeting.Duration != 2*time.Minute {
		t.Fatalf("overrides: %+v", s)
	}
	if s.Workload.ItemsPerHour != 0 || s.Workload.OfflineFraction != 0 {
		t.Fatal("an explicit 0 was replaced by the default")
	}
	if len(s.Metrics.Distances) != 1 || s.Metrics.Distances[0] != 100 {
		t.Fatalf("distances merged instead of replaced: %v", s.Metrics.Distances)
	}
	if s.Workload.RelayRestarts[0].Down.Duration != 10*time.Second || s.Mobility.Gatherings[0].Radius != 20 ||
		s.Mobility.Gatherings[0].For.Duration != 30*time.Minute {
		t.Fatal("array element defaults not filled")
	}
}

func TestScenarioErrors(t *testing.T) {
	for _, tc := range []struct{ toml, want string }{
		{`nodes = 1`, "nodes"},
		{`nodse = 10`, "unknown keys: nodse"},
		{`epoch = "30s"`, "epoch"},
		{`epoch = "ten"`, "invalid"},
		{"[graph]\nmodel = \"ring\"", "graph.model"},
		{"[graph]\nmodel = \"edges\"", "graph.file"},
		{"[graph]\ndegree = 50", "graph.degree"},
		{"[mobility]\nmodel = \"trace\"", "mobility.file"},
		{"[workload]\npolicy = \"all\"", "workload.policy"},
		{"[[workload.relay_restart]]\nrelay = 3\nat = \"1m\"", "relay_restart[0]"},
		{"[metrics]\ndistances = [300, 50]", "increasing"},
		{"[mobility]\n[[mobility.gathering]]\nnodes = [1]", "given but model"},
		{"[network]\ntransport = \"tcp\"", "network.transport"},
	} {
		_, err := ParseScenario([]byte(tc.toml), "")
		if !errors.Is(err, ErrScenario) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an ErrScenario naming %q", tc.toml, err, tc.want)
		}
	}
	// Every problem is reported, not just the first.
	_, err := ParseScenario([]byte("nodes = 1\nrelays = 0\n"), "")
	if err == nil || !strings.Contains(err.Error(), "nodes") || !strings.Contains(err.Error(), "relays") {
		t.Fatalf("want both errors, got %v", err)
	}
}

func TestLoadScenarioRelativePaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "edges.txt"), []byte("# pairs\n0,1\n1 2\n\n2,0\n0,1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "s.toml")
	if err := os.WriteFile(p, []byte("nodes = 4\n[graph]\nmodel = \"edges\"\nfile = \"edges.txt\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadScenario(p)
	if err != nil {
		t.Fatal(err)
	}
	g, err := BuildGraph(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Edges) != 3 || !g.Friends(0, 2) || g.Friends(0, 3) || g.Degree(3) != 0 {
		t.Fatalf("edge list graph: %+v", g.Edges)
	}
}

func TestShippedScenariosValidate(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("scenarios", "*.toml"))
	if len(files) < 3 {
		t.Fatalf("want small, medium and large scenarios, got %v", files)
	}
	for _, f := range files {
		if _, err := LoadScenario(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
