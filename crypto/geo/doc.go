// Package geo maps a position to the S2 cells whose proximity tokens a
// device announces. It is pure (no I/O, no state) and safe for concurrent
// use. Locations never leave the device: only cell IDs computed here are fed
// to crypto.Token, and only tokens leave (DESIGN P3).
//
// # Scheme
//
// A device at level L (DefaultLevel 16, cells 92–166 m across) announces,
// per friend and epoch, a "here" token for its own cell and "near" tokens
// for the three cells that share the corner of its cell nearest to it
// (s2.CellID.VertexNeighbors on the leaf cell): four tokens per friend per
// epoch. Two friends match when one's here cell is the other's here or near
// cell (Match). Near-near coincidences must not count, so the rendezvous has
// to know which token of an announcement is "here"; otherwise the range
// grows to about two cells.
//
// Why the corner's three cells: a friend a few metres away is across at most
// the two nearest edges or the corner between them, so the nearest corner's
// neighbourhood covers every short displacement, and because both devices
// announce it, each one's here is in the other's near set from both sides of
// a border. AllCells (all eight neighbours, nine tokens) matches about 75 m
// farther at more than twice the upload; Cells is the default.
//
// # Detection probability by distance
//
// Measured by TestMatchProbability (run `go test -run MatchProbability
// ./crypto/geo -args -table`): level 16, 4,000 pairs per distance, each a
// place drawn uniformly on the sphere and a uniform bearing, seeded PCG(16,
// 2026).
//
//	distance   Cells (4 tokens)   AllCells (9 tokens)
//	   0 m        100.0 %            100.0 %
//	  25 m        100.0 %            100.0 %
//	  50 m        100.0 %            100.0 %
//	  75 m        100.0 %            100.0 %
//	 100 m         99.9 %            100.0 %
//	 125 m         98.4 %             99.6 %
//	 150 m         86.6 %             95.5 %
//	 175 m         63.0 %             85.2 %
//	 200 m         37.4 %             70.3 %
//	 225 m         16.2 %             53.6 %
//	 250 m          4.6 %             38.0 %
//	 275 m          1.1 %             24.1 %
//	 300 m          0.2 %             14.0 %
//	 325 m          0.0 %              5.7 %
//	 350 m          0.0 %              2.3 %
//	 375 m          0.0 %              0.6 %
//	 400 m          0.0 %              0.2 %
//	 425–500 m      0.0 %              0.0 %
//
// The test fails if anyone within 25 m is missed, anyone at 500 m matches,
// or the probability rises with distance.
//
// # Caveats
//
// Cell sizes vary by a factor of ~1.8 over the sphere (smallest near the
// cube-face corners), so the range varies with place; the table averages
// over the sphere. Near the eight cube vertices a cell has only three
// vertex neighbours, so Cells returns two near cells there.
package geo
