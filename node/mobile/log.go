package mobile

import (
	"context"
	"log/slog"
	"strings"
)

// Logger receives the library's log lines, already formatted
// ("message key=value ..."). The library never logs content, keys, tokens,
// mailbox IDs, addresses or locations. Log may be called from any thread,
// concurrently; it must not block for long and must not call back into
// the Node.
type Logger interface {
	Log(level int, message string)
}

// Log levels of Logger.Log and Config.LogLevel (the values of log/slog).
const (
	LogDebug = -4
	LogInfo  = 0
	LogWarn  = 4
	LogError = 8
)

// logHandler is a slog.Handler writing to a Logger.
type logHandler struct {
	l     Logger
	level slog.Level
	attrs string // pre-formatted With attributes
	group string
}

func newLogger(l Logger, level int) *slog.Logger {
	return slog.New(&logHandler{l: l, level: slog.Level(level)})
}

func (h *logHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *logHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString(r.Message)
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, h.group, a)
		return true
	})
	func() {
		defer func() { _ = recover() }() // the app's logger must not crash the node
		h.l.Log(int(r.Level), b.String())
	}()
	return nil
}

func writeAttr(b *strings.Builder, group string, a slog.Attr) {
	if a.Equal(slog.Attr{}) {
		return
	}
	b.WriteByte(' ')
	if group != "" {
		b.WriteString(group)
		b.WriteByte('.')
	}
	b.WriteString(a.Key)
	b.WriteByte('=')
	b.WriteString(a.Value.Resolve().String())
}

func (h *logHandler) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	b.WriteString(h.attrs)
	for _, a := range as {
		writeAttr(&b, h.group, a)
	}
	c := *h
	c.attrs = b.String()
	return &c
}

func (h *logHandler) WithGroup(name string) slog.Handler {
	c := *h
	if c.group != "" {
		name = c.group + "." + name
	}
	c.group = name
	return &c
}

// logCrash writes a crash report to the logger of the most recent node
// that has one.
func logCrash(report string) {
	crashHooks.mu.Lock()
	l := crashHooks.log
	crashHooks.mu.Unlock()
	if l != nil {
		l.Error(report)
	}
}

// discardLogger drops everything: without Config.Logger the library logs
// nothing (slog.Default would write to the app's stderr).
var discardLogger = slog.New(slog.DiscardHandler)
