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
	start time.Time
	last  time.Time
}

// NewProgress returns a bar over total steps; w nil disables it.
func NewProgress(w io.Writer, label string, total int) *Progress {
	if w == nil {
		return nil
	}
	return &Progress{w: w, total: max(total, 1), label: label, start: time.Now()}
}

// Update shows done steps and the virtual time they reach.
func (p *Progress) Update(done int, virtual time.Duration) {
	if p == nil || (time.Since(p.last) < 200*time.Millisecond && done < p.total) {
		return
	}
	p.last = time.Now()
	const width = 30
	fill := done * width / p.total
	fmt.Fprintf(p.w, "\r%s [%s%s] %3d%% %v simulated, %v wall ", p.label,
		strings.Repeat("#", fill), strings.Repeat(".", width-fill), done*100/p.total,
		virtual.Round(time.Second), time.Since(p.start).Round(time.Second))
}

// Done ends the line.
func (p *Progress) Done() {
	if p != nil {
		fmt.Fprintln(p.w)
	}
}
