package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"

	"github.com/imigee/imigee/node"
)

// analyticsConfig builds the node's analytics settings from run's flags:
// off unless both are given.
func analyticsConfig(rf *runFlags) (node.AnalyticsConfig, error) {
	if rf.anLeader == "" && rf.anKeys == "" {
		return node.AnalyticsConfig{}, nil
	}
	l, h, ok := strings.Cut(rf.anKeys, ",")
	lk, err1 := hex.DecodeString(l)
	hk, err2 := hex.DecodeString(h)
	if rf.anLeader == "" || !ok || err1 != nil || err2 != nil || len(lk) != 32 || len(hk) != 32 {
		return node.AnalyticsConfig{}, errors.New("analytics needs -analytics-leader ADDR and -analytics-keys LEADERHEX,HELPERHEX (32-byte keys)")
	}
	return node.AnalyticsConfig{Enabled: true, Leader: rf.anLeader, LeaderKey: lk, HelperKey: hk, Platform: "desktop", AppVersion: appVersion()}, nil
}

// appVersion is the binary's module version ("(devel)" for a local
// build); the report carries only its hash bucket.
func appVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}

type analyticsResult struct {
	Enabled bool              `json:"enabled"`
	Today   map[string]uint64 `json:"today,omitempty"`
}

const aboutAnalytics = `
"analytics show" prints what today's anonymous analytics report would
contain, field by field: small counts only, no IDs, names, places or times.
Analytics are off unless run was started with -analytics-leader and
-analytics-keys; then one report a day is split into two shares for two
collectors of different operators and sent from a one-off identity.`

func cmdAnalytics(e *env) int {
	var r analyticsResult
	return simple(e, "analytics", 1, 1, func(pos []string) (*request, error) {
		if pos[0] != "show" {
			return nil, errors.New("usage: imigee analytics show")
		}
		return &request{Cmd: "analytics-show"}, nil
	}, &r, func() {
		if !r.Enabled {
			fmt.Fprintln(e.stdout, "Analytics are off: nothing is counted or sent.")
			return
		}
		for _, k := range slices.Sorted(maps.Keys(r.Today)) {
			fmt.Fprintf(e.stdout, "%-22s %d\n", k, r.Today[k])
		}
	})
}
