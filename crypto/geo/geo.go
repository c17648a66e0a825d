package geo

import (
	"math"
	"slices"

	"github.com/golang/geo/s2"
)

const (
	// DefaultLevel is the S2 cell level of proximity tokens: 16, cells with
	// edges of 92–166 m (about 150 m at mid latitudes).
	DefaultLevel = 16

	// MinLevel and MaxLevel bound the levels Cells accepts: 10 (≈ 10 km) to
	// 20 (≈ 9 m). Coarser leaks less per token but matches farther; finer
	// costs more tokens per metre of range.
	MinLevel = 10
	MaxLevel = 20

	// EarthRadiusMeters is the mean Earth radius used to convert distances.
	EarthRadiusMeters = 6371008.8
)

// Cells maps a position to its "here" cell and its "near" cells at level
// (clamped to [MinLevel, MaxLevel]). Near is the three cells that share the
// here cell's vertex closest to the position: the neighbours across the two
// nearest edges and the diagonal one between them (two near a cube corner).
// A device announces one token per cell, four per friend; two friends match
// when one's here cell is the other's here or near cell. The measured match
// probability by distance is in the package doc.
//
// The returned IDs are s2.CellID values. Invalid coordinates (NaN, or a
// latitude outside ±90°) give here = 0 and no near cells.
func Cells(lat, lng float64, level int) (here uint64, near []uint64) {
	if math.IsNaN(lat) || math.IsNaN(lng) || lat < -90 || lat > 90 || math.IsInf(lng, 0) {
		return 0, nil
	}
	level = min(max(level, MinLevel), MaxLevel)
	leaf := s2.CellIDFromLatLng(s2.LatLngFromDegrees(lat, lng))
	h := leaf.Parent(level)
	for _, c := range leaf.VertexNeighbors(level) {
		if c != h && !slices.Contains(near, uint64(c)) {
			near = append(near, uint64(c))
		}
	}
	return uint64(h), near
}

// AllCells is the wider scheme: the here cell and all its edge and vertex
// neighbours (eight, fewer at cube corners). It costs nine tokens per friend
// and matches farther; see the package doc for its table.
func AllCells(lat, lng float64, level int) (here uint64, near []uint64) {
	if math.IsNaN(lat) || math.IsNaN(lng) || lat < -90 || lat > 90 || math.IsInf(lng, 0) {
		return 0, nil
	}
	level = min(max(level, MinLevel), MaxLevel)
	h := s2.CellIDFromLatLng(s2.LatLngFromDegrees(lat, lng)).Parent(level)
	for _, c := range h.AllNeighbors(level) {
		if c != h && !slices.Contains(near, uint64(c)) {
			near = append(near, uint64(c))
		}
	}
	return uint64(h), near
}

// Match reports whether two devices' cell sets match under the here/near
// rule: a's here equals b's here, or either's here is among the other's
// near cells. Near-near coincidences do not count (the rendezvous must be
// told which token is "here").
func Match(aHere uint64, aNear []uint64, bHere uint64, bNear []uint64) bool {
	return aHere == bHere || slices.Contains(bNear, aHere) || slices.Contains(aNear, bHere)
}

// Destination returns the point reached from (lat, lng) after meters along
// the great circle with the given bearing (degrees clockwise from north).
// It is for tests and simulations.
func Destination(lat, lng, bearingDeg, meters float64) (float64, float64) {
	φ1, λ1 := lat*math.Pi/180, lng*math.Pi/180
	θ := bearingDeg * math.Pi / 180
	δ := meters / EarthRadiusMeters
	φ2 := math.Asin(math.Sin(φ1)*math.Cos(δ) + math.Cos(φ1)*math.Sin(δ)*math.Cos(θ))
	λ2 := λ1 + math.Atan2(math.Sin(θ)*math.Sin(δ)*math.Cos(φ1), math.Cos(δ)-math.Sin(φ1)*math.Sin(φ2))
	lng2 := math.Mod(λ2*180/math.Pi+540, 360) - 180
	return φ2 * 180 / math.Pi, lng2
}
