// Command benchratio reads `go test -bench` output on stdin, passes it
// through, and then prints every Imigee performance claim as a ratio of our
// code to its raw baseline measured in the same run (see docs/BENCH.md).
// Absolute numbers drift ±20 % between runs on shared machines; ratios from
// one run do not.
package main
