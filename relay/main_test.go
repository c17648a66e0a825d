package relay

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any goroutine outlives its test: every
// relay is closed in t.Cleanup, and Close waits for what it started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
