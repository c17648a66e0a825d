package relay

import (
	"io"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/imigee/imigee/protocol"
)

// serviceStream is what a service handler needs from a stream. A libp2p
// network.Stream satisfies it; fuzz tests use an in-memory one.
type serviceStream interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// frameWriter serialises frames on one stream: responses from the request
// loop and pushes from the stream's pusher goroutine share it.
type frameWriter struct {
	mu      sync.Mutex // guards w and the stream's write side
	s       serviceStream
	w       *protocol.Writer
	timeout time.Duration
}

func newFrameWriter(s serviceStream, timeout time.Duration) *frameWriter {
	return &frameWriter{s: s, w: protocol.NewWriter(s), timeout: timeout}
}

// write sends one frame within the write timeout.
func (fw *frameWriter) write(m proto.Message) error {
	fw.mu.Lock()
	defer fw.mu.Unlock()
	_ = fw.s.SetWriteDeadline(time.Now().Add(fw.timeout))
	return fw.w.WriteMsg(m)
}

// readRequest waits up to idle for the next frame, then reads it. The
// deadline covers the whole frame: a peer that starts a frame must finish it
// within the idle window plus ReadTimeout, which the caller folds in.
func readRequest(r *protocol.Reader, s serviceStream, idle time.Duration, m proto.Message) error {
	_ = s.SetReadDeadline(time.Now().Add(idle))
	return r.ReadMsg(m)
}
