package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
)

// Build compiles the main package pkg (an import path such as
// "github.com/imigee/imigee/cmd/imigee-relay") into dir and returns the
// binary's path. It builds like `make build` (CGO off; no -trimpath, to share the build cache) and
// without -race even when the tests run with it: the child is the system
// under test, not the race detector's subject, and a race build is slower
// and larger. Call it once from TestMain.
func Build(dir, pkg string) (string, error) {
	out := filepath.Join(dir, path.Base(pkg))
	cmd := exec.Command(goBin(), "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	b, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("e2e: go build %s: %w\n%s", pkg, err, strings.TrimSpace(string(b)))
	}
	return out, nil
}

// goBin finds the go command: $GOROOT/bin/go of the toolchain running the
// test if present, else "go" on PATH.
func goBin() string {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// TrackSources opens every file of the package pkg's directory. Call it
// from a test (not TestMain): `go test` caches a package's result keyed on
// the files its tests open, and the binary Build makes is not an import of
// the test, so without this an edit to the command would be answered with a
// stale cached PASS.
func TrackSources(pkg string) error {
	out, err := exec.Command(goBin(), "list", "-f", "{{.Dir}}", pkg).Output()
	if err != nil {
		return fmt.Errorf("e2e: go list %s: %w", pkg, err)
	}
	dir := strings.TrimSpace(string(out))
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return err
		}
		f.Close()
	}
	return nil
}
