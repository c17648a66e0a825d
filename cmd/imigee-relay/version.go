package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// version is set at build time with
// -ldflags "-X main.version=v1.2.3"; otherwise it comes from the module
// build info (a tagged "go install") or stays "devel".
var version = ""

// versionString returns the version, the VCS revision if known and the Go
// version, e.g. "v0.1.0 (rev 1a2b3c4d, go1.26.8)".
func versionString() string {
	v, rev, dirty := version, "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	s := v + " ("
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		s += "rev " + rev
		if dirty {
			s += "+dirty"
		}
		s += ", "
	}
	return s + runtime.Version() + ")"
}

func cmdVersion(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("version", "version", "Print the version, VCS revision and Go version.", stderr)
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	fmt.Fprintln(stdout, "imigee-relay", versionString())
	return exitOK
}
