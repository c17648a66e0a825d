package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/imigee/imigee/test/testnet"
	"github.com/imigee/imigee/test/testnet/inproc"
	"github.com/imigee/imigee/test/testnet/procs"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// Modes of run.
const (
	modeSim    = "sim"
	modeProcs  = "procs"
	modeSimnet = "simnet"
)

// simnetPkg is the package whose TestSimScenario runs --mode simnet.
const simnetPkg = "github.com/imigee/imigee/test/testnet/simnet"

const usage = `imigee-testnet runs simulated or multi-process Imigee networks.

Usage:
  imigee-testnet run SCENARIO.toml --out DIR [--mode sim|simnet|procs] [--quiet] [--no-plots] [-v]
                 [--seed N] [--set KEY=VALUE]... [--simnet-bin PATH]
                 [--imigee PATH] [--imigee-relay PATH] [--go PATH]
                 [--workers HOST:PORT,... [--token-file FILE] [--worker-wait 30s]]
  imigee-testnet sweep SCENARIO.toml --out DIR [--mode simnet|sim|procs] [--seeds 1-5]
                 [--param KEY=V1,V2,...]... [--set KEY=VALUE]... [--no-plots] [--simnet-bin PATH]
  imigee-testnet worker --listen HOST:PORT [--token-file FILE] [--advertise HOST]
                 [--dir DIR] [--capacity N] [--imigee PATH] [--imigee-relay PATH] [-v]
  imigee-testnet validate SCENARIO.toml [--truth] [--reference] [--set KEY=VALUE]...
  imigee-testnet redetect RESULTS-DIR [--set KEY=VALUE]... [--no-plots]
  imigee-testnet help

Commands:
  run       run the scenario and write the results directory:
            summary.json, run.json, events.jsonl, meetings.csv, samples.csv,
            relays.csv, detections.csv, deliveries.csv, PNG plots, and
            provenance: provenance.json (commit, flags, seed, overrides, Go
            and OS, input hashes), scenario.toml (resolved) and inputs/
  sweep     run the scenario for every combination of --param values and
            every seed, each into DIR/POINT/seed-N (kept if done before),
            then sweep_runs.csv, sweep_aggregate.csv/.md (mean and 95 %
            t confidence interval over seeds) and sweep_*.png plots
  worker    serve this machine to a controller's "run --mode procs
            --workers": start and stop imigee-relay and imigee processes on
            request, pass node commands and events; runs until SIGTERM
  redetect  recompute detection_by_distance (csv and plot) of a results
            directory from its scenario.toml and events.jsonl, without a
            rerun (e.g. --set metrics.bin=50)
  validate  check a scenario and print what it will build: graph size and
            degrees, planned items and offline periods; with --truth also the
            ground-truth meetings per distance (walks the mobility model)

Modes:
  sim       real node.Node and relay.Relay in this process, on 127.0.0.1,
            with virtual time compressed by [network] speedup (default)
  simnet    real node.Node and relay.Relay over a simulated packet network
            (real QUIC over links with the scenario's latency and bandwidth)
            under testing/synctest virtual time: idle time is free and a
            seed gives byte-identical results. Runs in the simnet runner,
            imigee-testnet-simnet next to this binary (make testnet-bin) or
            --simnet-bin; without one it is built with --go from the
            repository; see docs/testnet.md
  procs     real imigee and imigee-relay processes on loopback, driven
            through the node's control socket; real time (speedup 1). With
            --workers the processes run on those workers' machines (relays
            round-robin, nodes by capacity) instead of here

See docs/testnet.md for the scenario reference.
`

func main() {
	os.Exit(realMain(os.Args[1:], os.Stdout, os.Stderr))
}

func realMain(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "run":
		return cmdRun(args[1:], stdout, stderr)
	case "sweep":
		return cmdSweep(args[1:], stdout, stderr)
	case "redetect":
		return cmdRedetect(args[1:], stdout, stderr)
	case "worker":
		return cmdWorker(args[1:], stdout, stderr)
	case "validate":
		return cmdValidate(args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "imigee-testnet: unknown command %q\n\n%s", args[0], usage)
	return exitUsage
}

// parseWithFile parses flags before and after the one positional argument.
func parseWithFile(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", errors.New("missing scenario file")
	}
	file := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	return file, nil
}

func cmdRun(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "results directory (required)")
	mode := fs.String("mode", modeSim, "sim (in-process, real time), procs (processes) or simnet (simulated network, virtual time)")
	quiet := fs.Bool("quiet", false, "no progress bar")
	noPlots := fs.Bool("no-plots", false, "skip the PNG plots")
	verbose := fs.Bool("v", false, "debug logs of nodes and relays on stderr")
	imigeeBin := fs.String("imigee", "", "procs: the imigee `binary` (default from PATH)")
	relayBin := fs.String("imigee-relay", "", "procs: the imigee-relay `binary` (default from PATH)")
	goBin := fs.String("go", "go", "simnet: the go `command`")
	workerList := fs.String("workers", "", "procs: run the processes on these workers (`host:port,...`)")
	tokenFile := fs.String("token-file", "", "procs with --workers: the workers' shared-secret `file`")
	workerWait := fs.Duration("worker-wait", 30*time.Second, "procs with --workers: how long to wait for the workers to answer")
	simnetBin := fs.String("simnet-bin", "", "simnet: the simnet runner `binary` (default "+simnetBinName+" next to this one, else built with --go)")
	seed := fs.Uint64("seed", 0, "override the scenario's seed (0: keep it)")
	var sets multiFlag
	fs.Var(&sets, "set", "override a scenario `key=value` (dotted TOML key, e.g. workload.items_per_hour=2); repeatable")
	file, err := parseWithFile(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet run: %v\n", err)
		return exitUsage
	}
	if *out == "" {
		fmt.Fprintln(stderr, "imigee-testnet run: --out is required")
		return exitUsage
	}
	overrides := sets
	if *seed != 0 {
		overrides = append(overrides, fmt.Sprintf("seed=%d", *seed))
	}
	s, err := testnet.LoadScenarioWith(file, overrides)
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet: %v\n", err)
		return exitUsage
	}
	prov := &testnet.Provenance{Tool: "imigee-testnet", Args: append([]string{"run"}, args...), Overrides: overrides, ScenarioFile: file}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if (*workerList != "" || *tokenFile != "") && *mode != modeProcs {
		fmt.Fprintln(stderr, "imigee-testnet run: --workers and --token-file need --mode procs")
		return exitUsage
	}
	if *mode == modeSimnet {
		prov.Mode = modeSimnet
		return runSimnet(s, prov, simnetRun{out: *out, goBin: *goBin, bin: *simnetBin, quiet: *quiet, noPlots: *noPlots, verbose: *verbose}, stdout, stderr)
	}
	var backend testnet.Backend
	switch *mode {
	case modeSim:
		backend = &inproc.Backend{Logger: logger}
	case modeProcs:
		ws, err := workers(*workerList, *tokenFile, logger)
		if err != nil {
			fmt.Fprintf(stderr, "imigee-testnet run: %v\n", err)
			return exitUsage
		}
		pb := &procs.Backend{Imigee: *imigeeBin, Relay: *relayBin, Workers: ws}
		if *verbose {
			pb.Stderr = stderr
		}
		if testnet.NewReception(s) != nil {
			fmt.Fprintf(stderr, "imigee-testnet run: %v\n", procs.ErrNoOutages)
			return exitUsage
		}
		if s.Network.Speedup != 1 {
			fmt.Fprintf(stderr, "imigee-testnet: mode procs runs in real time: speedup %v ignored\n", s.Network.Speedup)
			s.Network.Speedup = 1
		}
		backend = pb
	default:
		fmt.Fprintf(stderr, "imigee-testnet run: --mode %q is not sim, simnet or procs\n", *mode)
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if pb, ok := backend.(*procs.Backend); ok && len(pb.Workers) > 0 {
		if err := waitWorkers(ctx, pb.Workers, *workerWait, logger); err != nil {
			fmt.Fprintf(stderr, "imigee-testnet: %v\n", err)
			return exitFail
		}
	}
	opt := testnet.Options{Backend: backend, Out: *out, Mode: *mode, Log: logger, NoPlots: *noPlots, Provenance: prov}
	if !*quiet {
		opt.Progress = stderr
	}
	start := time.Now()
	res, err := testnet.Run(ctx, s, opt)
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet: %v\n", err)
		return exitFail
	}
	printSummary(stdout, res.Summary)
	fmt.Fprintf(stdout, "wall time %v; results in %s\n", time.Since(start).Round(time.Second), *out)
	return exitOK
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, " ") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func printSummary(w io.Writer, s *testnet.Summary) {
	fmt.Fprintf(w, "%s: %d nodes, %d relays, %d friendships, %.0f s simulated\n", s.Scenario, s.Nodes, s.Relays, s.Friendships, s.DurationS)
	for _, r := range s.Meetings.ByDistance {
		fmt.Fprintf(w, "  meetings ≤ %g m: %d, detected %d (%.0f%%), both sides %d, missed %d, latency p50 %.0f s p90 %.0f s; %d short\n",
			r.DistanceM, r.Meetings, r.Detected, 100*r.Rate, r.DetectedBoth, r.Missed, r.LatencyP50S, r.LatencyP90S, r.Short)
	}
	fmt.Fprintf(w, "  false detections: %d of %d\n", s.Meetings.False, s.Meetings.Detections)
	if l := s.Late; l.Outages > 0 || l.Detections > 0 {
		for _, r := range l.ByDistance {
			fmt.Fprintf(w, "  meetings ≤ %g m: live %d, late %d (both sides %d), missed %d of %d (%d with a side out of reception); late delay p50 %.0f s p90 %.0f s\n",
				r.DistanceM, r.Live, r.Late, r.LateBoth, r.Missed, r.Meetings, r.InOutage, r.LateDelayP50S, r.LateDelayP90S)
		}
		fmt.Fprintf(w, "  late detections %d (false %d), reception losses %d, items after a late match %d\n",
			l.Detections, l.False, l.Outages, l.ItemsAfterLate)
	}
	d := s.Delivery
	fmt.Fprintf(w, "  items %d to %d recipients: delivered %d (%.1f%%), expired %d, time to deliver p50 %.1f s p90 %.1f s\n",
		d.Items, d.Recipients, d.Delivered, 100*d.Ratio, d.Expired, d.TTDP50S, d.TTDP90S)
	fmt.Fprintf(w, "  relay: peak stored %d bytes, peak rendezvous entries %d\n", s.Relay.PeakStoredBytes, s.Relay.PeakRendezvousEntries)
}

func cmdValidate(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	truth := fs.Bool("truth", false, "also compute the ground-truth meetings")
	reference := fs.Bool("reference", false, "also print the cell rule's match probability per distance bin (the reference curve of detection_by_distance) for the scenario's place, level and rule")
	var sets multiFlag
	fs.Var(&sets, "set", "override a scenario `key=value`; repeatable")
	file, err := parseWithFile(fs, args)
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet validate: %v\n", err)
		return exitUsage
	}
	s, err := testnet.LoadScenarioWith(file, sets)
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet: %v\n", err)
		return exitUsage
	}
	g, err := testnet.BuildGraph(s)
	if err != nil {
		fmt.Fprintf(stderr, "imigee-testnet: %v\n", err)
		return exitUsage
	}
	lo, hi, isolated := g.N, 0, 0
	for i := range g.N {
		d := g.Degree(i)
		lo, hi = min(lo, d), max(hi, d)
		if d == 0 {
			isolated++
		}
	}
	fmt.Fprintf(stdout, "%s: ok\n  %d nodes, %d relays, %v simulated in %d steps of %v, epoch %v\n",
		s.Name, s.Nodes, s.Relays, s.Duration, s.Steps(), s.Step, s.Epoch)
	fmt.Fprintf(stdout, "  graph %s: %d friendships, degree %d..%d (mean %.1f), %d without friends\n",
		s.Graph.Model, len(g.Edges), lo, hi, 2*float64(len(g.Edges))/float64(g.N), isolated)
	plan := testnet.Plan(s, g)
	counts := map[string]int{}
	for _, a := range plan {
		counts[a.Kind]++
	}
	fmt.Fprintf(stdout, "  workload: %d share actions, %d offline periods, %d relay restarts\n",
		counts[testnet.ActShare], counts[testnet.ActOffline], counts[testnet.ActRelayDown])
	if w := s.Workload; len(w.Outages)+len(w.DeadZones) > 0 {
		fmt.Fprintf(stdout, "  reception: %d phone outages, %d dead zones\n", len(w.Outages), len(w.DeadZones))
	}
	fmt.Fprintf(stdout, "  history: relays %v, phones %v\n", s.History.RelayWindow, s.History.NodeWindow)
	if *reference {
		var bins []testnet.DetectionBin
		for d := 0.0; d < s.Metrics.BinMax; d += s.Metrics.Bin {
			bins = append(bins, testnet.DetectionBin{FromM: d, ToM: min(d+s.Metrics.Bin, s.Metrics.BinMax)})
		}
		ref := testnet.ReferenceCurve(s, bins)
		fmt.Fprintf(stdout, "  cell rule %s at level %d around %.4f, %.4f (%d pairs per bin, at the bin's middle):\n",
			s.Proximity.Neighbours, s.Proximity.Level(), s.Mobility.Lat, s.Mobility.Lng, testnet.RefSamples)
		for i, b := range bins {
			fmt.Fprintf(stdout, "    %5g m  %5.1f %%\n", (b.FromM+b.ToM)/2, 100*ref[i])
		}
	}
	if *truth {
		ms, err := testnet.Truth(s, g, plan)
		if err != nil {
			fmt.Fprintf(stderr, "imigee-testnet: %v\n", err)
			return exitUsage
		}
		for _, d := range s.Thresholds() {
			n, long := 0, 0
			for _, m := range ms {
				if m.Dist == d {
					n++
					if m.Duration() >= s.Metrics.MinMeeting.Duration {
						long++
					}
				}
			}
			fmt.Fprintf(stdout, "  meetings ≤ %g m while both online: %d (%d lasting ≥ %v)\n", d, n, long, s.Metrics.MinMeeting)
		}
	}
	return exitOK
}
