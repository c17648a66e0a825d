package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/imigee/imigee/test/testnet"
)

// cmdSweep runs a scenario over the product of --param value lists and
// --seeds, each run with `run` into SweepRunDir (a run whose summary.json
// exists is kept, so an interrupted sweep resumes), then writes the sweep
// tables and plots into --out.
func cmdSweep(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "sweep directory (required)")
	mode := fs.String("mode", modeSimnet, "sim, simnet or procs (as for run)")
	seeds := fs.String("seeds", "1", "seeds: `list` such as 1,2,3 or 1-10")
	noPlots := fs.Bool("no-plots", false, "no plots (neither per run nor for the sweep)")
	simnetBin := fs.String("simnet-bin", "", "simnet: the simnet runner `binary`")
	goBin := fs.String("go", "go", "simnet: the go `command`")
	var params, sets multiFlag
	fs.Var(&params, "param", "swept `key=v1,v2,...` (dotted scenario key); repeatable: the product is run")
	fs.Var(&sets, "set", "fixed override `key=value`; repeatable")
	file, err := parseWithFile(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet sweep: %v\n", err)
		return exitUsage
	}
	if *out == "" {
		fmt.Fprintln(stderr, "imigee-testnet sweep: --out is required")
		return exitUsage
	}
	seedList, err := testnet.ParseSeeds(*seeds)
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet sweep: %v\n", err)
		return exitUsage
	}
	var ps []testnet.SweepParam
	for _, p := range params {
		sp, err := testnet.ParseSweepParam(p)
		if err != nil {
			fmt.Fprintf(stderr, "imigee-testnet sweep: %v\n", err)
			return exitUsage
		}
		ps = append(ps, sp)
	}
	points := testnet.SweepPoints(ps)
	if n := len(points) * len(seedList); n > testnet.MaxSweepRuns {
		fmt.Fprintf(stderr, "imigee-testnet sweep: %d runs, more than %d\n", n, testnet.MaxSweepRuns)
		return exitUsage
	}
	// Check every point before the first run starts.
	for _, pt := range points {
		if _, err := testnet.LoadScenarioWith(file, slices.Concat(sets, pt.Set)); err != nil {
			fmt.Fprintf(stderr, "imigee-testnet sweep: %s: %v\n", pt.Label, err)
			return exitUsage
		}
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintf(stderr, "imigee-testnet sweep: %v\n", err)
		return exitFail
	}
	total, k := len(points)*len(seedList), 0
	var runs []testnet.SweepRun
	start := time.Now()
	for _, pt := range points {
		for _, seed := range seedList {
			k++
			dir := testnet.SweepRunDir(*out, pt, seed)
			sum, err := readSummary(dir)
			if err != nil {
				if *mode == modeSimnet && *simnetBin == "" {
					// Find or build the runner once for the whole sweep,
					// not once per run.
					ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
					bin, cleanup, err := simnetBinary(ctx, simnetRun{goBin: *goBin}, stderr)
					stop()
					if err != nil {
						fmt.Fprintf(stderr, "imigee-testnet sweep: simnet run: %v\n", err)
						return exitFail
					}
					defer cleanup()
					*simnetBin = bin
				}
				ra := []string{file, "--out", dir, "--mode", *mode, "--quiet", "--seed", strconv.FormatUint(seed, 10), "--go", *goBin}
				if *simnetBin != "" {
					ra = append(ra, "--simnet-bin", *simnetBin)
				}
				if *noPlots {
					ra = append(ra, "--no-plots")
				}
				for _, s := range slices.Concat(sets, pt.Set) {
					ra = append(ra, "--set", s)
				}
				t0 := time.Now()
				fmt.Fprintf(stderr, "sweep %d/%d: %s seed %d ...", k, total, pt.Label, seed)
				if code := cmdRun(ra, io.Discard, stderr); code != exitOK {
					fmt.Fprintf(stderr, "\nimigee-testnet sweep: run %s failed\n", dir)
					return code
				}
				fmt.Fprintf(stderr, " %v (sweep %v)\n", time.Since(t0).Round(time.Second), time.Since(start).Round(time.Second))
				if sum, err = readSummary(dir); err != nil {
					fmt.Fprintf(stderr, "imigee-testnet sweep: %v\n", err)
					return exitFail
				}
			} else {
				fmt.Fprintf(stderr, "sweep %d/%d: %s seed %d: done before, kept\n", k, total, pt.Label, seed)
			}
			runs = append(runs, testnet.SweepRun{Point: pt, Seed: seed, Metrics: testnet.SummaryMetrics(sum)})
		}
	}
	agg, err := testnet.WriteSweep(*out, ps, points, runs, *noPlots)
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet sweep: %v\n", err)
		return exitFail
	}
	for _, a := range agg {
		switch a.Metric {
		case "detected_50m", "detected_150m", "delivery_ratio", "ttd_p50_s", "false_detections":
			fmt.Fprintf(stdout, "%-40s %-16s n=%-3d mean %-10.4g 95%% CI [%.4g, %.4g]\n", a.Point, a.Metric, a.N, a.Mean, a.Lo, a.Hi)
		}
	}
	fmt.Fprintf(stdout, "%d runs in %v; tables in %s\n", total, time.Since(start).Round(time.Second), filepath.Join(*out, testnet.FileSweepAggregate))
	return exitOK
}

func readSummary(dir string) (*testnet.Summary, error) {
	b, err := os.ReadFile(filepath.Join(dir, testnet.FileSummary))
	if err != nil {
		return nil, err
	}
	var s testnet.Summary
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return &s, nil
}

// cmdRedetect recomputes a results directory's detection curve.
func cmdRedetect(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("redetect", flag.ContinueOnError)
	fs.SetOutput(stderr)
	noPlots := fs.Bool("no-plots", false, "only the CSV")
	var sets multiFlag
	fs.Var(&sets, "set", "override a scenario `key=value` first; repeatable")
	dir, err := parseWithFile(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet redetect: %v\n", err)
		return exitUsage
	}
	bins, err := testnet.Redetect(dir, sets, *noPlots)
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet redetect: %v\n", err)
		return exitFail
	}
	for _, b := range bins {
		if b.N > 0 {
			fmt.Fprintf(stdout, "%5g–%-5g m  n=%-5d either %5.1f %%  both %5.1f %%  reference %5.1f %%\n",
				b.FromM, b.ToM, b.N, 100*b.EitherRate, 100*b.BothRate, 100*b.Reference)
		}
	}
	return exitOK
}
