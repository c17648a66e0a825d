package testnet

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Provenance: what a results directory needs to say how it was made.
const (
	// FileProvenance is provenance.json: commit, flags, seed, overrides,
	// Go and OS versions, and the hash of every input.
	FileProvenance = "provenance.json"
	// FileScenario is the resolved scenario (every default filled in,
	// overrides applied, input paths pointing into inputs/): running it
	// again repeats the run.
	FileScenario = "scenario.toml"
	// DirInputs holds copies of the scenario's input files (edge lists,
	// traces) up to MaxInputCopy bytes each; larger ones are named by
	// hash only.
	DirInputs = "inputs"
	// MaxInputCopy is the largest input file copied into DirInputs: 64 MiB.
	MaxInputCopy = 64 << 20
)

// Provenance is provenance.json.
type Provenance struct {
	Tool      string   `json:"tool"`                // "imigee-testnet"
	Args      []string `json:"args,omitempty"`      // command line, when run from the command
	Mode      string   `json:"mode"`                // sim, simnet, procs
	Seed      uint64   `json:"seed"`                // the scenario's seed, after overrides
	Overrides []string `json:"overrides,omitempty"` // --set key=value, in order
	// ScenarioFile and ScenarioSHA256 are the file as given (before
	// overrides); FileScenario is what ran.
	ScenarioFile   string  `json:"scenario_file,omitempty"`
	ScenarioSHA256 string  `json:"scenario_sha256,omitempty"`
	Inputs         []Input `json:"inputs,omitempty"`
	// Commit is the source revision: from the binary's build info (vcs.*)
	// or, for test binaries and go run, from git in the working directory.
	Commit     string            `json:"commit,omitempty"`
	CommitTime string            `json:"commit_time,omitempty"`
	Modified   bool              `json:"modified,omitempty"` // uncommitted changes
	CommitFrom string            `json:"commit_from,omitempty"`
	GoVersion  string            `json:"go_version"`
	GOOS       string            `json:"goos"`
	GOARCH     string            `json:"goarch"`
	OS         string            `json:"os,omitempty"` // kernel release and distribution
	CPUs       int               `json:"cpus"`
	Deps       map[string]string `json:"deps,omitempty"` // versions of the stack under test
	StartedUTC string            `json:"started_utc"`
}

// Input is one input file of the scenario.
type Input struct {
	Key    string `json:"key"`  // graph.file, mobility.file
	Path   string `json:"path"` // as resolved when the run started
	SHA256 string `json:"sha256"`
	Bytes  int64  `json:"bytes"`
	// Copy is the copy's path in the results directory, empty when the
	// file was larger than MaxInputCopy.
	Copy string `json:"copy,omitempty"`
}

// deps are the modules whose versions a result depends on.
var deps = []string{"github.com/libp2p/go-libp2p", "github.com/libp2p/go-libp2p-pubsub",
	"github.com/quic-go/quic-go", "go.etcd.io/bbolt", "golang.org/x/crypto"}

// WriteProvenance writes provenance.json, scenario.toml and inputs/ into
// dir for scenario s; p carries what only the caller knows (tool, args,
// mode, overrides, the scenario file). The rest is filled in here.
func WriteProvenance(dir string, s *Scenario, p Provenance) error {
	p.Seed = s.Seed
	p.GoVersion, p.GOOS, p.GOARCH, p.CPUs = runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU()
	p.OS = osVersion()
	p.StartedUTC = time.Now().UTC().Format(time.RFC3339)
	if p.ScenarioFile != "" {
		if sum, _, err := hashFile(p.ScenarioFile); err == nil {
			p.ScenarioSHA256 = sum
		}
	}
	buildInfo(&p, filepath.Dir(p.ScenarioFile))
	resolved := *s
	for _, in := range []struct {
		key  string
		path *string
	}{{"graph.file", &resolved.Graph.File}, {"mobility.file", &resolved.Mobility.File}} {
		if *in.path == "" {
			continue
		}
		src := s.Path(*in.path)
		sum, n, err := hashFile(src)
		if err != nil {
			return fmt.Errorf("testnet: provenance: %s: %w", in.key, err)
		}
		rec := Input{Key: in.key, Path: src, SHA256: sum, Bytes: n}
		if n <= MaxInputCopy {
			rec.Copy = filepath.Join(DirInputs, strings.ReplaceAll(in.key, ".", "-")+"-"+filepath.Base(src))
			if err := copyFile(src, filepath.Join(dir, rec.Copy)); err != nil {
				return err
			}
			*in.path = rec.Copy
		} else {
			*in.path = src
		}
		p.Inputs = append(p.Inputs, rec)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# The scenario as run (defaults filled in, overrides applied); see %s.\n", FileProvenance)
	if err := toml.NewEncoder(&b).Encode(resolved); err != nil {
		return fmt.Errorf("testnet: provenance: scenario: %w", err)
	}
	if err := writeFile(filepath.Join(dir, FileScenario), b.Bytes()); err != nil {
		return err
	}
	return writeJSON(filepath.Join(dir, FileProvenance), p)
}

// buildInfo fills the commit from the build info, else from git in the
// working directory, else from git in dir (the scenario's directory).
func buildInfo(p *Provenance, dir string) {
	bi, ok := debug.ReadBuildInfo()
	if ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				p.Commit, p.CommitFrom = s.Value, "build info"
			case "vcs.time":
				p.CommitTime = s.Value
			case "vcs.modified":
				p.Modified = s.Value == "true"
			}
		}
		p.Deps = map[string]string{}
		for _, m := range bi.Deps {
			for _, d := range deps {
				if m.Path == d {
					p.Deps[d] = m.Version
				}
			}
		}
	}
	if p.Commit != "" {
		return
	}
	// go test, go run and -buildvcs=false do not stamp vcs.*: ask git, if
	// there is one.
	dirs := []string{""}
	if dir != "" && dir != "." { // "." is the working directory again
		dirs = append(dirs, dir)
	}
	for _, d := range dirs {
		cmd := exec.Command("git", "log", "-1", "--format=%H %cI")
		cmd.Dir = d
		out, err := cmd.Output()
		if err != nil {
			continue
		}
		if f := strings.Fields(string(out)); len(f) == 2 {
			p.Commit, p.CommitTime, p.CommitFrom = f[0], f[1], "git"
		}
		st := exec.Command("git", "status", "--porcelain", "--untracked-files=no")
		st.Dir = d
		if b, err := st.Output(); err == nil {
			p.Modified = len(bytes.TrimSpace(b)) > 0
		}
		return
	}
}

// osVersion is the kernel release and the distribution's name, where
// Linux says them.
func osVersion() string {
	var parts []string
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		parts = append(parts, "kernel "+strings.TrimSpace(string(b)))
	}
	if b, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				parts = append(parts, strings.Trim(v, `"`))
			}
		}
	}
	return strings.Join(parts, "; ")
}

func hashFile(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("testnet: provenance: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("testnet: provenance: %w", err)
	}
	return writeFile(dst, b)
}
