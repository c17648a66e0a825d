// Package protocol is Imigee's wire contract: versioned protocol IDs, the
// protobuf messages (in package pb), length-prefixed framing with a size cap
// per stream, the named limits, shape validation of every message, and the
// closed list of error codes. The full specification, with every field,
// limit and flow, is docs/PROTOCOL.md.
//
// # Use
//
// A server or client reads with a Reader (one per stream, reusing its
// buffers) through a typed helper, which reads one frame under that
// message type's cap and validates it:
//
//	r := protocol.NewReader(stream, protocol.MaxMailboxRequest)
//	w := protocol.NewWriter(stream)
//	var req pb.MailboxRequest
//	for {
//		if err := protocol.ReadMailboxRequest(r, &req); err != nil {
//			// io.EOF: clean close. *protocol.Error: answer {id:0,
//			// ToPB(err)} and close the stream.
//		}
//		...
//		w.WriteMsg(&pb.MailboxResponse{Id: req.Id, ...})
//	}
//
// Gossip messages are bare protobuf inside pubsub messages: one
// RendezvousGossipBatch each (DecodeGossipBatch), built item by item from
// EncodeGossip and AppendGossipItem.
//
// # Guarantees
//
//   - A frame length above the cap is rejected before a byte of the body is
//     read or allocated (TestReadMsgRejectsBeforeAllocating, FuzzFrame and
//     every Fuzz<Type>), and a body buffer grows only as bytes arrive, so a
//     peer announcing a big frame and stalling pins at most AllocStep
//     (TestStalledFrameAllocatesLittle).
//   - Before a body is decoded, Scan walks it without allocating: repeated
//     fields over MaxRepeated (or their own cap) are TOO_LARGE, nesting over
//     MaxNesting counting unknown groups and two members of one oneof are
//     BAD_REQUEST (TestScanCountsBeforeDecoding, TestScanNestingLimit,
//     TestScanTwoBodies, FuzzScan). A Reader with BodyCaps caps each
//     request frame by its body type before reading the rest
//     (TestBodyCaps), and with an Account reserves body buffers before
//     allocating them (TestReaderAccounts).
//   - io.EOF means a clean close between frames; a stream that ends inside a
//     frame gives io.ErrUnexpectedEOF (TestReadMsgEOF).
//   - Every message that passes Validate fits its frame cap
//     (TestLargestValidFitsCap); every branch of every validator rejects
//     with the right code (TestValidateRejects).
//   - The shared vectors in testdata decode, validate and re-encode to the
//     same bytes (TestVectors); their mailbox auths verify with crypto
//     (TestVectorAuthsVerify). Every decoder is fuzzed from them (Fuzz*):
//     no panic, bounded reads, and anything accepted re-encodes and
//     re-decodes to an equal message.
//   - Errors sent on the wire carry only a code from the closed list and the
//     detail of a *Error, never wrapped context or user data (TestToPB);
//     unknown codes received become ErrUnsupported (TestFromPB).
//   - A stream Reader and Writer do not allocate per frame for the frame
//     buffer (TestReaderSteadyStateAllocs, TestWriterKeepsSealedChunkBuffer
//     for frames up to RetainLimit); see the benchmarks in
//     bench_test.go for the ratio to raw proto.Marshal/Unmarshal.
//   - Chunk frames have a zero-copy path (chunkframe.go): DecodePeerFrame
//     takes the canonical encoding of a valid PeerFrame{chunk} in place and
//     sends everything else to Unmarshal and ValidatePeerFrame; it accepts
//     and rejects exactly what they do, with the same errors and fields
//     (TestDecodePeerFrameAgrees, FuzzDecodePeerFrame).
//     AppendChunkFrameHeader writes WriteMsg's bytes for a chunk frame
//     without the data (TestAppendChunkFrameHeader), and Reader.ReadFrameInto
//     reads a body into the caller's buffer under the same caps
//     (TestReadFrameInto).
//
// Validation is shape only (lengths, counts, presence, ids, enums);
// signatures, challenges, epochs against a clock and quotas are checked by
// the relay and the node. Unknown fields are dropped on decode so /1 can
// grow optional fields; a body of an unknown oneof case decodes as absent
// and fails validation with ErrUnsupported.
//
// # Concurrency
//
// Package-level functions are safe for concurrent use. A Reader or Writer
// belongs to one goroutine at a time (a stream normally has one reading and
// one writing goroutine, each with its own).
//
// # Caveats
//
// After ErrTooLarge or a malformed length the stream is out of step: answer
// with an id-0 error and close it without reading further (a reset would
// lose the answer). ReadMsg on a plain io.Reader reads the length one byte at a time
// (it must not read ahead); wrap long-lived streams in a Reader. A Reader
// keeps a body buffer of at most RetainLimit bytes between frames; Release
// drops it.
//
// DESIGN properties: protocol carries only sealed bytes and tokens, which
// is what P1, P3 and P12 need from the wire; the properties themselves are
// proven by the crypto, relay and node tests.
package protocol
