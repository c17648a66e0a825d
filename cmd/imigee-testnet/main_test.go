package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := realMain(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageAndValidate(t *testing.T) {
	if code, out, _ := run("help"); code != exitOK || !strings.Contains(out, "imigee-testnet run") {
		t.Fatalf("help: %d %q", code, out)
	}
	if code, _, _ := run(); code != exitUsage {
		t.Fatal("no arguments must be a usage error")
	}
	if code, _, _ := run("frobnicate"); code != exitUsage {
		t.Fatal("unknown command must be a usage error")
	}
	small := filepath.Join("..", "..", "test", "testnet", "scenarios", "small.toml")
	code, out, errs := run("validate", small, "--truth")
	if code != exitOK || !strings.Contains(out, "small: ok") || !strings.Contains(out, "meetings ≤ 50 m") {
		t.Fatalf("validate: %d %q %q", code, out, errs)
	}
	if code, _, errs := run("validate", small, "--set", "nodes=1"); code != exitUsage || !strings.Contains(errs, "nodes") {
		t.Fatalf("--set nodes=1: %d %q", code, errs)
	}
	if code, out, errs := run("validate", small, "--set", "nodes=30", "--set", "graph.model=complete"); code != exitOK || !strings.Contains(out, "30 nodes") || !strings.Contains(out, "435 friendships") {
		t.Fatalf("--set: %d %q %q", code, out, errs)
	}
	if code, _, errs := run("sweep", small); code != exitUsage || !strings.Contains(errs, "--out") {
		t.Fatalf("sweep without --out: %d %q", code, errs)
	}
	if code, _, errs := run("sweep", small, "--out", t.TempDir(), "--seeds", "3-1"); code != exitUsage || !strings.Contains(errs, "seeds") {
		t.Fatalf("sweep with bad seeds: %d %q", code, errs)
	}
	// Every point is checked before the first run starts.
	if code, _, errs := run("sweep", small, "--out", t.TempDir(), "--param", "nodes=10,1"); code != exitUsage || !strings.Contains(errs, "nodes=1") {
		t.Fatalf("sweep with a bad point: %d %q", code, errs)
	}
	if code, _, errs := run("sweep", small, "--out", t.TempDir(), "--simnet-bin", "/nonexistent/runner"); code != exitFail || !strings.Contains(errs, "simnet run") {
		t.Fatalf("sweep without a runner: %d %q", code, errs)
	}
	if code, out, errs := run("validate", small, "--reference"); code != exitOK || !strings.Contains(out, "100.0 %") {
		t.Fatalf("validate --reference: %d %q %q", code, out, errs)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	os.WriteFile(bad, []byte("nodes = 1\n"), 0o644)
	if code, _, errs := run("validate", bad); code != exitUsage || !strings.Contains(errs, "nodes") {
		t.Fatalf("bad scenario: %d %q", code, errs)
	}
	if code, _, errs := run("run", small); code != exitUsage || !strings.Contains(errs, "--out") {
		t.Fatalf("run without --out: %d %q", code, errs)
	}
	if code, _, errs := run("run", small, "--out", t.TempDir(), "--mode", "procs", "--imigee", "/nonexistent/imigee"); code != exitFail || !strings.Contains(errs, "imigee binary") {
		t.Fatalf("procs without binaries: %d %q", code, errs)
	}
	if code, _, errs := run("run", small, "--out", t.TempDir(), "--mode", "simnet", "--go", "/nonexistent/go", "--quiet"); code != exitFail || !strings.Contains(errs, "simnet run") {
		t.Fatalf("simnet without go: %d %q", code, errs)
	}
	if code, _, errs := run("run", small, "--out", t.TempDir(), "--workers", "127.0.0.1:1"); code != exitUsage || !strings.Contains(errs, "--mode procs") {
		t.Fatalf("--workers in sim mode: %d %q", code, errs)
	}
	if code, _, errs := run("run", small, "--out", t.TempDir(), "--mode", "procs", "--workers", "nonsense"); code != exitUsage || !strings.Contains(errs, "--workers") {
		t.Fatalf("bad --workers: %d %q", code, errs)
	}
	if code, _, errs := run("run", small, "--out", t.TempDir(), "--mode", "procs", "--workers", "127.0.0.1:1", "--token-file", "/nonexistent/token"); code != exitUsage || !strings.Contains(errs, "token file") {
		t.Fatalf("missing token file: %d %q", code, errs)
	}
	if code, _, errs := run("run", small, "--out", t.TempDir(), "--mode", "procs", "--quiet", "--workers", "127.0.0.1:1", "--worker-wait", "1s"); code != exitFail || !strings.Contains(errs, "worker 127.0.0.1:1") {
		t.Fatalf("unreachable worker: %d %q", code, errs)
	}
	if code, _, _ := run("worker"); code != exitUsage {
		t.Fatal("worker without --listen must be a usage error")
	}
	if code, _, errs := run("worker", "--listen", "0.0.0.0:0"); code != exitUsage || !strings.Contains(errs, "token") {
		t.Fatalf("worker on 0.0.0.0 without token: %d %q", code, errs)
	}
	if code, _, errs := run("worker", "--listen", "127.0.0.1:0", "--imigee", "/nonexistent/imigee"); code != exitFail || !strings.Contains(errs, "imigee binary") {
		t.Fatalf("worker without binaries: %d %q", code, errs)
	}
	if code, _, _ := run("run", small, "--out", t.TempDir(), "--mode", "carrier-pigeon"); code != exitUsage {
		t.Fatal("bad mode must be a usage error")
	}
}
