package testnet

import (
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// FuzzParseScenario: any input gives a scenario that validates, or an
// error; never a panic.
func FuzzParseScenario(f *testing.F) {
	f.Add([]byte(""))
	f.Add([]byte(runnerScenario))
	f.Add([]byte("nodes = 3\n[graph]\nmodel = \"complete\"\n[mobility]\nmodel = \"static\"\n"))
	f.Add([]byte("[[workload.offline]]\nnode = 1\nat = \"1m\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseScenario(data, "")
		if err != nil {
			return
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("parsed scenario does not validate: %v", err)
		}
		if s.Nodes <= 200 && s.Steps() <= 1000 && s.Graph.Model != GraphEdges && s.Mobility.Model != MobilityTrace {
			g, err := BuildGraph(s)
			if err != nil {
				return
			}
			Plan(s, g)
		}
	})
}
