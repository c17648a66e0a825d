package testnet

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Progress draws a one-line progress bar on a terminal (stderr): the bar,
// percent, virtual time done and wall time elapsed. It redraws at most
// every 200 ms. A nil *Progress does nothing.
type Progress struct {
	w     io.Writer
	total int
	label string
	// Wall is the wall time since the bar began; by default measured with
	// time.Since, which inside a testing/synctest bubble is virtual, so
	// the simulated mode supplies its own (Options.Wall).
	Wall func() time.Duration
	last time.Duration
}

// NewProgress returns a bar over total steps; w nil disables it.
func NewProgress(w io.Writer, label string, total int) *Progress {
	if w == nil {
		return nil
	}
	start := time.Now()
	return &Progress{w: w, total: max(total, 1), label: label, last: -time.Hour,
		Wall: func() time.Duration { return time.Since(start) }}
}

// Update shows done steps and the virtual time they reach.
func (p *Progress) Update(done int, virtual time.Duration) {
	if p == nil {
		return
	}
	now := p.Wall()
	if now-p.last < 200*time.Millisecond && done < p.total {
		return
	}
	p.last = now
	const width = 30
	fill := done * width / p.total
	fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %v simulated, %v wall ", p.label,
		strings.Repeat("#", fill), strings.Repeat(".", width-fill), done*100/p.total,
		virtual.Round(time.Second), now.Round(time.Second))
}

// Done ends the line.
func (p *Progress) Done() {
	if p != nil {
		fmt.Fprintln(p.w)
	}
}
