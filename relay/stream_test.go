package relay

import (
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/imigee/imigee/protocol/pb"
)

// stuckStream is a stream whose writes block until the write deadline, as
// a QUIC stream does when the peer stopped reading.
type stuckStream struct {
	mu       sync.Mutex
	deadline time.Time
	readDL   time.Time
}

func (s *stuckStream) Read([]byte) (int, error) { select {} }
func (s *stuckStream) Write(p []byte) (int, error) {
	for {
		s.mu.Lock()
		dl := s.deadline
		s.mu.Unlock()
		if !dl.IsZero() && time.Now().After(dl) {
			return 0, os.ErrDeadlineExceeded
		}
		time.Sleep(5 * time.Millisecond)
	}
}
func (s *stuckStream) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	s.readDL = t
	s.mu.Unlock()
	return nil
}
func (s *stuckStream) SetWriteDeadline(t time.Time) error {
	s.mu.Lock()
	s.deadline = t
	s.mu.Unlock()
	return nil
}

type nopAccount struct{}

func (nopAccount) Reserve(int) error { return nil }
func (nopAccount) Release(int)       {}

// TestWriterDoesNotHoldALockAcrossWrites (issue 14's simnet hang): while the
// writer goroutine is stuck in a network write, other senders queue without
// waiting on a lock; once the queue is full they wait on a channel, and all
// of them return when the write deadline cuts the stream. The old writer
// held a mutex across the write, so a second sender blocked on the mutex.
func TestWriterDoesNotHoldALockAcrossWrites(t *testing.T) {
	s := &stuckStream{}
	fw := newFrameWriter(s, 300*time.Millisecond, nopAccount{})
	msg := &pb.MailboxResponse{Id: 1, Body: &pb.MailboxResponse_Ack{Ack: &pb.AckResult{Deleted: 1}}}
	start := time.Now()
	// One frame goes to the stuck write, writeQueue more wait in the queue.
	for i := 0; i <= writeQueue; i++ {
		if err := fw.write(msg); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if d := time.Since(start); d > 250*time.Millisecond {
		t.Fatalf("queueing %d frames took %v: a sender waited for the stuck write", writeQueue+1, d)
	}
	// The next sender waits for room; the deadline ends the stuck write and
	// the writer, which releases it with an error.
	if err := fw.write(msg); !errors.Is(err, errWriterClosed) {
		t.Fatalf("write after the stream broke: %v", err)
	}
	fw.finish()
	s.mu.Lock()
	cut := !s.readDL.IsZero()
	s.mu.Unlock()
	if !cut {
		t.Fatal("a failed write did not cut the stream's reader")
	}
}
