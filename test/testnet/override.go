package testnet

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Overrides: `--set key=value` on the command line, applied to the
// scenario file before it is parsed, so an override is checked exactly as
// the same line in the file would be (unknown keys and bad values are
// errors). Keys are dotted TOML paths ("workload.items_per_hour",
// "mobility.gathering.0.at" for the first gathering); values are TOML
// ("2", "0.5", "\"10m\"", "[50, 100]") or, when they do not parse as
// TOML, a bare string (10m, scale-free).

// MaxOverrides caps the overrides of one run: 256.
const MaxOverrides = 256

// LoadScenarioWith reads a scenario file and applies overrides in order.
func LoadScenarioWith(path string, overrides []string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("testnet: read scenario: %w", err)
	}
	if len(overrides) > 0 {
		if data, err = ApplyOverrides(data, overrides); err != nil {
			return nil, err
		}
	}
	return ParseScenario(data, filepath.Dir(path))
}

// ApplyOverrides returns the TOML document data with each key=value set.
func ApplyOverrides(data []byte, overrides []string) ([]byte, error) {
	if len(overrides) > MaxOverrides {
		return nil, fmt.Errorf("%w: more than %d overrides", ErrScenario, MaxOverrides)
	}
	doc := map[string]any{}
	if _, err := toml.Decode(string(data), &doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScenario, err)
	}
	for _, o := range overrides {
		key, val, ok := strings.Cut(o, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" {
			return nil, fmt.Errorf("%w: override %q is not key=value", ErrScenario, o)
		}
		if err := setPath(doc, strings.Split(key, "."), parseValue(strings.TrimSpace(val))); err != nil {
			return nil, fmt.Errorf("%w: override %s: %v", ErrScenario, key, err)
		}
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(doc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrScenario, err)
	}
	return b.Bytes(), nil
}

// parseValue reads v as a TOML value, or keeps it as a string.
func parseValue(v string) any {
	var m map[string]any
	if _, err := toml.Decode("v = "+v, &m); err == nil {
		return m["v"]
	}
	return v
}

func setPath(cur any, path []string, val any) error {
	for i, p := range path {
		last := i == len(path)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				c[p] = val
				return nil
			}
			next, ok := c[p]
			if !ok {
				next = map[string]any{}
				c[p] = next
			}
			cur = next
		case []map[string]any:
			k, err := strconv.Atoi(p)
			if err != nil || k < 0 || k >= len(c) {
				return fmt.Errorf("%q: no element %s (there are %d)", strings.Join(path[:i], "."), p, len(c))
			}
			if last {
				return fmt.Errorf("cannot replace a whole table")
			}
			cur = c[k]
		default:
			return fmt.Errorf("%q is not a table", strings.Join(path[:i], "."))
		}
	}
	return nil
}
