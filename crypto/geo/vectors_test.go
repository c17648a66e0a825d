package geo

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/cells.json")

type cellVector struct {
	Lat   float64  `json:"lat"`
	Lng   float64  `json:"lng"`
	Level int      `json:"level"`
	Here  uint64   `json:"here"`
	Near  []uint64 `json:"near"`
}

// TestCellVectors pins the position → cells mapping, which both ends of
// every pair must compute identically (a change would make old and new
// phones miss each other).
func TestCellVectors(t *testing.T) {
	var got []cellVector
	for _, p := range []struct{ lat, lng float64 }{
		{48.8584, 2.2945}, {40.7580, -73.9855}, {-33.8568, 151.2153}, {35.6595, 139.7005},
		{0, 0}, {89.9999, 10}, {-89.9999, -170}, {45, 180}, {45, -180},
	} {
		for _, level := range []int{DefaultLevel, 12} {
			h, n := Cells(p.lat, p.lng, level)
			got = append(got, cellVector{p.lat, p.lng, level, h, n})
		}
	}
	path := filepath.Join("testdata", "cells.json")
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want []cellVector
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatal("cell mapping changed (regenerate with -update only for an intended change)")
	}
}
