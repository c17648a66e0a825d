package testnet

import (
	"context"
	"sync"
	"time"
)

// VClock is the run's virtual clock: frozen at the scenario start until
// Begin, then running Speedup times faster than the process clock. Under
// testing/synctest the process clock is itself virtual, so a Speedup of 1
// there costs no wall time while goroutines are idle.
//
// A stepped clock (NewSteppedClock) instead only moves when the runner
// reaches the next step: it costs no wall time and makes a run with a
// deterministic backend reproducible to the millisecond.
type VClock struct {
	start   time.Time
	speedup float64
	stepped bool
	at      time.Duration // stepped: the current virtual time; guarded by mu

	mu    sync.Mutex // guards began and wall0
	began bool
	wall0 time.Time
}

// NewVClock returns a clock frozen at start.
func NewVClock(start time.Time, speedup float64) *VClock {
	return &VClock{start: start, speedup: speedup}
}

// NewSteppedClock returns a clock that moves only in WaitUntil.
func NewSteppedClock(start time.Time) *VClock {
	return &VClock{start: start, speedup: 1, stepped: true}
}

// Begin starts virtual time 0 now.
func (c *VClock) Begin() {
	c.mu.Lock()
	c.began, c.wall0 = true, time.Now()
	c.mu.Unlock()
}

// Now is the virtual time; safe for concurrent use.
func (c *VClock) Now() time.Time { return c.start.Add(c.Elapsed()) }

// Elapsed is the virtual time since the start.
func (c *VClock) Elapsed() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.began {
		return 0
	}
	if c.stepped {
		return c.at
	}
	return time.Duration(float64(time.Since(c.wall0)) * c.speedup)
}

// WaitUntil blocks until virtual time t since the start, or ctx is done.
func (c *VClock) WaitUntil(ctx context.Context, t time.Duration) error {
	if c.stepped {
		c.mu.Lock()
		c.at = max(c.at, t)
		c.mu.Unlock()
		return ctx.Err()
	}
	for {
		d := t - c.Elapsed()
		if d <= 0 {
			return nil
		}
		tm := time.NewTimer(time.Duration(float64(d) / c.speedup))
		select {
		case <-ctx.Done():
			tm.Stop()
			return ctx.Err()
		case <-tm.C:
		}
	}
}
