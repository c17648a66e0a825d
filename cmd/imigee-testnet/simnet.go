package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/imigee/imigee/test/testnet"
	"github.com/imigee/imigee/test/testnet/simnet"
)

// simnetBinName is the simnet runner shipped next to imigee-testnet: the
// compiled test binary of package simnet (`make testnet-bin`, or
// `go test -c -o imigee-testnet-simnet ./test/testnet/simnet`).
//
// Why a second binary: testing/synctest, which gives the virtual time,
// has one entry point, synctest.Test(t, f), and a *testing.T exists only
// in a test binary (testing.MainStart needs testing/internal/testdeps,
// which only the go command's generated main may import; Go 1.26). So the
// simnet mode runs TestSimScenario of that binary, told what to do
// through the environment, and its progress bar streams live on stderr.
// Without the binary, imigee-testnet builds it with the go command from
// the source tree (--go; needs the repository).
const simnetBinName = "imigee-testnet-simnet"

type simnetRun struct {
	out, goBin, bin         string
	quiet, noPlots, verbose bool
}

// runSimnet writes the provenance and the resolved scenario into the
// results directory, then runs that scenario in the simnet runner.
func runSimnet(s *testnet.Scenario, prov *testnet.Provenance, r simnetRun, stdout, stderr io.Writer) int {
	out, err := filepath.Abs(r.out)
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet: %v\n", err)
		return exitUsage
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		fmt.Fprintf(stderr, "imigee-testnet: %v\n", err)
		return exitFail
	}
	if err := testnet.WriteProvenance(out, s, *prov); err != nil {
		fmt.Fprintf(stderr, "imigee-testnet: %v\n", err)
		return exitFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	bin, cleanup, err := simnetBinary(ctx, r, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet: simnet run: %v\n", err)
		return exitFail
	}
	defer cleanup()
	args := []string{"-test.run", "^TestSimScenario$", "-test.count", "1", "-test.timeout", "0"}
	if r.verbose {
		args = append(args, "-test.v")
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), simnet.EnvScenario+"="+filepath.Join(out, testnet.FileScenario), simnet.EnvOut+"="+out,
		"GODEBUG="+godebug(os.Getenv("GODEBUG")))
	if r.quiet {
		cmd.Env = append(cmd.Env, simnet.EnvQuiet+"=1")
	}
	if r.noPlots {
		cmd.Env = append(cmd.Env, simnet.EnvNoPlots+"=1")
	}
	// The runner's stdout is the test's verdict and t.Log lines: shown with
	// -v or when the run failed.
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, stderr
	if r.verbose {
		cmd.Stdout = stderr
	}
	start := time.Now()
	if err := cmd.Run(); err != nil {
		stderr.Write(log.Bytes())
		fmt.Fprintf(stderr, "imigee-testnet: simnet run (%s): %v\n", bin, err)
		return exitFail
	}
	b, err := os.ReadFile(filepath.Join(out, testnet.FileSummary))
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet: simnet run wrote no summary: %v\n", err)
		return exitFail
	}
	var sum testnet.Summary
	if err := json.Unmarshal(b, &sum); err != nil {
		fmt.Fprintf(stderr, "imigee-testnet: simnet summary: %v\n", err)
		return exitFail
	}
	printSummary(stdout, &sum)
	fmt.Fprintf(stdout, "wall time %v; results in %s\n", time.Since(start).Round(time.Second), out)
	return exitOK
}

// simnetBinary is --simnet-bin, else simnetBinName next to this
// executable, else a runner built now with the go command (removed by
// cleanup).
func simnetBinary(ctx context.Context, r simnetRun, stderr io.Writer) (string, func(), error) {
	nop := func() {}
	if r.bin != "" {
		return r.bin, nop, nil
	}
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), simnetBinName)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() {
			return p, nop, nil
		}
	}
	dir, err := os.MkdirTemp("", "imigee-testnet-simnet-")
	if err != nil {
		return "", nop, err
	}
	cleanup := func() { os.RemoveAll(dir) }
	bin := filepath.Join(dir, simnetBinName)
	fmt.Fprintf(stderr, "imigee-testnet: no %s next to this binary; building it (%s test -c %s)...\n", simnetBinName, r.goBin, simnetPkg)
	cmd := exec.CommandContext(ctx, r.goBin, "test", "-c", "-o", bin, simnetPkg)
	cmd.Stdout, cmd.Stderr = stderr, stderr
	if err := cmd.Run(); err != nil {
		cleanup()
		return "", nop, fmt.Errorf("build the simnet runner with %s (from the repository, or pass --simnet-bin): %w", r.goBin, err)
	}
	return bin, cleanup, nil
}

// godebug is GODEBUG with simnet.RunGODEBUG added (see there why).
func godebug(cur string) string {
	if strings.Contains(cur, simnet.RunGODEBUG) {
		return cur
	}
	if cur == "" {
		return simnet.RunGODEBUG
	}
	return cur + "," + simnet.RunGODEBUG
}
