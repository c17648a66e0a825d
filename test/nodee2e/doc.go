// Package nodee2e holds end-to-end tests of the desktop node as a user runs
// it: the real imigee, imigee-relay and imigee-demo binaries (built once by
// TestMain, CGO off, without -race, like "make build") as child processes
// on 127.0.0.1, driven only through the imigee CLI with -json and the
// "imigee run -json" event streams.
//
// TestNodeFlows shares one world (a relay; alice linked with bob and with
// carol) across ordered subtests:
//   - ControlSocket: the socket is 0600; oversized (70 KiB), garbage and
//     unknown requests get an error and the node keeps answering; a second
//     "run" on the same data directory refuses to start.
//   - MeetThenShareDirect: alice and bob located 40 m apart both get
//     friend_nearby; a photo shared to bob is offered, accepted (by ID
//     prefix) and received byte-identical; alice gets the receipt, her
//     outbox empties and the relay stored nothing.
//   - Reject (P7): a rejected offer is never received or reported
//     delivered, and leaves the sender's outbox.
//   - LikesAndMessages: a like names the liked item; a message arrives
//     with its text and is reported delivered.
//   - AutoShareAndAutoAccept (P7): with policy "nearby" a share without
//     recipients goes only to the friend nearby now; with auto-accept on,
//     the recipient gets it without an offer; in "ask" mode it is refused.
//   - OfflineThroughRelayP9 (P2, P9): carol, who never set a location, is
//     stopped; a photo and a message to her wait at the relay as sealed
//     blobs; after her restart she gets both, alice gets both receipts, the
//     relay holds nothing, and a second restart delivers nothing again.
//   - QuietZoneNeverFound: carol in her quiet zone, 30 m from alice, is
//     not found by alice and finds nobody.
//   - ForgetLeavesNothingAtRelay (P8): items alice parked for an offline
//     bob are gone from the relay after "imigee forget", run exits 0 and the
//     data directory is empty.
//   - P3P4NothingLocatesAFriend (P3, P4): every event line every node
//     printed, and every node's info-level log, is searched for every
//     coordinate used (4, 5 and all decimals; 3 outside timestamps), the S2
//     cells around them (levels 14 and 16, decimal, hex and token form) and
//     distance words; event objects carry only the documented fields.
//     (What the relay receives is recorded by the node package's tests.)
//
// TestDemo runs the "make demo" orchestrator (cmd/imigee-demo), expects
// exit 0 and every step of the story, and checks that no temporary
// directory or child process is left.
//
// Caveats: the child binaries are not race-built; the tests wait on events
// with generous time-outs and never assert durations. Data directories live
// under short os.MkdirTemp paths because unix socket paths are limited to
// 107 bytes. The package takes about 70 s, most of it building the three
// binaries and two ~5 s waits for a dial to an offline friend to fail.
package nodee2e
