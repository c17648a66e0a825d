package procs

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/imigee/imigee/test/testnet"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestAssign: relays round-robin; nodes round-robin at equal capacity
// and in proportion to capacity otherwise.
func TestAssign(t *testing.T) {
	r, n := Assign(3, 6, []int{4, 4})
	if !slices.Equal(r, []int{0, 1, 0}) || !slices.Equal(n, []int{0, 1, 0, 1, 0, 1}) {
		t.Errorf("equal capacity: relays %v nodes %v", r, n)
	}
	_, n = Assign(1, 8, []int{1, 3})
	count := [2]int{}
	for _, k := range n {
		count[k]++
	}
	if count != [2]int{2, 6} {
		t.Errorf("capacity 1:3 gave %v (%v)", count, n)
	}
	if r, n := Assign(2, 3, []int{0}); !slices.Equal(r, []int{0, 0}) || !slices.Equal(n, []int{0, 0, 0}) {
		t.Errorf("one machine: %v %v", r, n)
	}
}

// TestProcsScenario builds imigee and imigee-relay, runs three node
// processes and a relay process for 40 s of real time and checks the
// results: the friends 49 m apart are detected by both, nothing false,
// and every item arrives, including those shared to node 2 while it was
// offline.
func TestProcsScenario(t *testing.T) {
	if testing.Short() {
		t.Skip("real processes for 40 s")
	}
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin, "github.com/imigee/imigee/cmd/imigee", "github.com/imigee/imigee/cmd/imigee-relay")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("build: %v", err)
	}
	s, err := testnet.LoadScenario(filepath.Join("testdata", "procs.toml"))
	if err != nil {
		t.Fatal(err)
	}
	b := &Backend{Imigee: filepath.Join(bin, "imigee"), Relay: filepath.Join(bin, "imigee-relay")}
	if os.Getenv("PROCS_TEST_LOG") != "" {
		b.Stderr = os.Stderr
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out := t.TempDir()
	res, err := testnet.Run(ctx, s, testnet.Options{Backend: b, Out: out, Mode: "procs", NoPlots: true})
	if err != nil {
		t.Fatal(err)
	}
	testnet.CheckTwoFriends(t, res.Summary, "one machine")
}
