package main

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// progressWidth is the bar's width in characters.
const progressWidth = 30

// progressBar draws one self-overwriting line on a terminal. On anything
// else (a pipe, a file, -json) it draws nothing, so scripts see clean
// output.
type progressBar struct {
	w     io.Writer
	on    bool
	drawn bool
}

func newProgressBar(w io.Writer, quiet bool) *progressBar {
	return &progressBar{w: w, on: !quiet && isTerminal(w)}
}

func (p *progressBar) update(friend string, done, total int64) {
	if !p.on || total <= 0 {
		return
	}
	done = min(max(done, 0), total)
	fill := int(done * progressWidth / total)
	fmt.Fprintf(p.w, "\r[%s%s] %3d%%  %s of %s to %s ", strings.Repeat("#", fill), strings.Repeat(".", progressWidth-fill),
		done*100/total, humanBytes(done), humanBytes(total), short(friend))
	p.drawn = true
}

func (p *progressBar) finish() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
