package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestSimnetFromShippedBinaries is what a researcher without the source
// tree or a Go toolchain does: the two binaries of `make testnet-bin` in a
// directory, a scenario somewhere else, `imigee-testnet run --mode simnet`
// with PATH holding only that directory. The run must use the runner next
// to the command (not build one), stream its progress while it runs, and
// leave summary and provenance.
func TestSimnetFromShippedBinaries(t *testing.T) {
	// go test caches a result keyed on the files a test opens; the
	// binaries built here are not imports of the test.
	trackSources(t, ".", filepath.Join("..", "..", "test", "testnet", "simnet"))
	bin := t.TempDir()
	cmdPath := filepath.Join(bin, "imigee-testnet")
	// As make testnet-bin builds them (CGO off so the race build of this
	// test does not leak into the children).
	for _, args := range [][]string{
		{"build", "-o", cmdPath, "."},
		{"test", "-c", "-o", filepath.Join(bin, simnetBinName), simnetPkg},
	} {
		build := exec.Command(goCmd(), args...)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := build.CombinedOutput(); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
		}
	}

	work := t.TempDir()
	src, err := os.ReadFile(filepath.Join("..", "..", "test", "testnet", "simnet", "testdata", "small.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "s.toml"), src, 0o644); err != nil {
		t.Fatal(err)
	}
	run := exec.Command(cmdPath, "run", "s.toml", "--mode", "simnet", "--out", "out", "--seed", "12", "--set", "duration=30m")
	run.Dir = work
	// No toolchain and no repository: PATH is the binaries' directory only,
	// and nothing points at a module.
	run.Env = []string{"PATH=" + bin, "HOME=" + work, "TMPDIR=" + work}
	var stdout, stderr bytes.Buffer
	run.Stdout, run.Stderr = &stdout, &stderr
	if err := run.Run(); err != nil {
		t.Fatalf("run: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	errs := stderr.String()
	if strings.Contains(errs, "building it") {
		t.Errorf("the command built a runner instead of using the one next to it:\n%s", errs)
	}
	// The progress bar is the runner's stderr, passed through as it comes.
	if !strings.Contains(errs, "sim-small [") || !strings.Contains(errs, "100%") {
		t.Errorf("no progress bar on stderr:\n%s", errs)
	}
	out := filepath.Join(work, "out")
	var sum struct {
		Mode string `json:"mode"`
		Seed uint64 `json:"seed"`
	}
	readJSON(t, filepath.Join(out, "summary.json"), &sum)
	if sum.Mode != "simnet" || sum.Seed != 12 {
		t.Errorf("summary: mode %q seed %d, want simnet and 12", sum.Mode, sum.Seed)
	}
	var prov struct {
		Seed      uint64   `json:"seed"`
		Overrides []string `json:"overrides"`
		Mode      string   `json:"mode"`
	}
	readJSON(t, filepath.Join(out, "provenance.json"), &prov)
	if prov.Seed != 12 || prov.Mode != "simnet" || !slices.Contains(prov.Overrides, "duration=30m") {
		t.Errorf("provenance: %+v", prov)
	}
	if _, err := os.Stat(filepath.Join(out, "scenario.toml")); err != nil {
		t.Error(err)
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// goCmd is $GOROOT/bin/go when it exists, else go from PATH.
func goCmd() string {
	if root := os.Getenv("GOROOT"); root != "" {
		if p := filepath.Join(root, "bin", "go"); fileExists(p) {
			return p
		}
	}
	return "go"
}

func trackSources(t *testing.T, dirs ...string) {
	t.Helper()
	for _, dir := range dirs {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.IsDir() {
				continue
			}
			if b, err := os.ReadFile(filepath.Join(dir, e.Name())); err != nil || b == nil {
				t.Fatalf("read %s: %v", e.Name(), err)
			}
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
