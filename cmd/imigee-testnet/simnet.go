package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/imigee/imigee/test/testnet"
	"github.com/imigee/imigee/test/testnet/simnet"
)

// runSimnet runs the scenario in simnet mode: testing/synctest, which
// gives the virtual time, has no entry point but synctest.Test, so the run
// is the test TestSimScenario of package simnet, started with `go test`
// and told what to do through the environment.
func runSimnet(file, out, goBin string, quiet, noPlots, verbose bool, stdout, stderr io.Writer) int {
	absFile, err := filepath.Abs(file)
	if err == nil {
		out, err = filepath.Abs(out)
	}
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet: %v\n", err)
		return exitUsage
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		fmt.Fprintf(stderr, "imigee-testnet: %v\n", err)
		return exitFail
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	args := []string{"test", "-run", "^TestSimScenario$", "-count=1", "-timeout=0"}
	if verbose {
		args = append(args, "-v")
	}
	cmd := exec.CommandContext(ctx, goBin, append(args, simnetPkg)...)
	cmd.Env = append(os.Environ(), simnet.EnvScenario+"="+absFile, simnet.EnvOut+"="+out)
	if quiet {
		cmd.Env = append(cmd.Env, simnet.EnvQuiet+"=1")
	}
	if noPlots {
		cmd.Env = append(cmd.Env, simnet.EnvNoPlots+"=1")
	}
	cmd.Stdout, cmd.Stderr = stderr, stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(stderr, "imigee-testnet: simnet run (%s test %s, from the repository): %v\n", goBin, simnetPkg, err)
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
