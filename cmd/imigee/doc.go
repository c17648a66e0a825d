// Command imigee is the Imigee node for a desktop: the same node library a
// phone app embeds (package node), driven from a terminal.
//
// One data directory is one device. "imigee init" creates it; "imigee run"
// is the long-running node; every other command (invite, link, friends,
// locate, share, inbox, accept, reject, like, message, precision,
// auto-accept, policy, quiet, meetings, proposals, network, forget, id) is
// a short-lived client that asks
// the running node over a control socket. "imigee help COMMAND" explains
// each one; docs for newcomers are in the usage text, not here.
//
// # Data directory
//
//	node.db       the node's bbolt store, encrypted with the store key; bbolt
//	              holds an exclusive lock, so one process owns it: "imigee run"
//	              (a second one fails with node.ErrLocked)
//	store.key     32 random bytes, hex, mode 0600: the desktop stand-in for a
//	              phone's platform keystore (the directory itself is 0700)
//	relays        relay multiaddrs saved by "init -relay", used by run
//	control.sock  the control socket while run is running (mode 0600)
//	media/        received files; outbox/ sealed pending copies (node's)
//
// A desktop has no GPS: "imigee locate LAT LNG" feeds the position, which
// the node keeps in memory only. While "imigee run" runs the app counts as
// open (node.SetAppOpen(true)), so the node announces without waiting to
// dwell.
//
// # Control protocol
//
// The socket is a unix stream socket at DATA-DIR/control.sock, created with
// mode 0600 inside the 0700 data directory, so only the owner can connect.
// One connection carries one exchange:
//
//	client → node   one JSON object and "\n": {"cmd":"share","path":"/abs/p.jpg","to":["3fa2c1d0"]}
//	node → client   one JSON object and "\n": {"ok":true,"result":{...}} or {"ok":false,"error":"..."}
//
// Request fields: cmd (the command name as on the command line), friend,
// item, text, path (absolute), to (friend IDs or unique prefixes), video,
// lat, lng, accuracy, radius, value (precision/policy/auto-accept word,
// "off" for locate, the zone ID for quiet-remove, the network kind), taken
// (share-together: the capture time, unix seconds) and since (meetings). The quiet command sends
// "quiet" (add), "quiet-list" or "quiet-remove". Unknown fields are an
// error. Results are the structs
// printed by the client's -json flag (see handlers.go). The exception is
// {"cmd":"events"}: after {"ok":true} the node streams one event object per
// line — the same objects "imigee run -json" prints — until either side
// closes; a subscriber more than eventBuffer (1024) events behind is cut off.
//
// Limits (control.go): a request line is at most MaxRequestSize (128 KiB,
// so a 16 KiB message fits even with every character JSON-escaped); it
// must arrive within 10 s; at most 32 connections at once; a client reads
// at most 16 MiB of response and gives up after 90 s.
//
// # Events
//
// "imigee run" prints one line per node.Event: text for people, or with
// -json one object with the fields time, event (the node.Event kind, or
// "started" first with id), friend, item, type, text, path, done, total,
// err, via, handle, and from/to (friend_was_nearby and share_proposed: the
// meeting, unix seconds). "share -wait" ends when every recipient has an outcome: delivered,
// queued_at_relay (offline; the node delivers later), or delivery_failed
// (err "rejected" when the friend declined). node.Event carries no location, cell or distance (P4), and the
// command adds none: coordinates, keys and tokens are never printed or
// logged. test/nodee2e records these streams and searches them (P3/P4).
//
// # Taken while together (issue 10)
//
// "share -taken-while-with FRIEND PHOTO..." and "share -auto PHOTO..."
// read each photo's capture time on the client side (capture.go: EXIF
// DateTimeOriginal through github.com/rwcarlsen/goexif, at most the first
// 256 KiB, read as local time; else the file's modification time; only
// that field is read, never the EXIF GPS block) and send one
// "share-together" request per photo. With a friend, the photo is shared
// with them only if a meeting with them covers the capture time (else
// reported skipped); with -auto it goes to node.SharePhotoTogether(auto):
// whoever was there now, and friends found later. "meetings" lists
// node.Meetings; "proposals" answers share_proposed; "network none|wifi|
// cellular" calls node.NetworkChanged (none takes the node offline: how a
// desktop plays "no reception"); "policy together|together-auto".
//
// # Concurrency
//
// run owns the node, the control server and the event printer. The server
// has one accept goroutine and one goroutine per connection, all waited for
// by server.close; "events" connections end when the server closes.
// node.EventHandler.OnEvent runs on the node's event goroutine: it prints
// and fans out without blocking (hub drops a slow subscriber instead).
// SIGINT or SIGTERM, or a completed forget, stops the server (in-flight
// requests still get their answer), then closes the node.
//
// # Tests
//
// capture_test.go: TestCaptureTime (a JPEG with EXIF built in the test;
// no EXIF, broken EXIF and videos fall back to mtime), FuzzExifTaken.
// control_test.go: request limits and decoding (TestReadRequest,
// FuzzReadRequest), ID prefixes, flags after arguments, help for every
// command, and the server over a real unix socket (0600, errors, events,
// close). test/nodee2e runs the built binary end to end: every command, the
// -json event stream, and P3/P4/P7/P8/P9 (see its package doc).
//
// # Caveats
//
// Friends have no names on the desktop: they are their IDs (any unique
// prefix of at least 4 hex digits works). The -epoch of friends must match
// and relays accept only 60 s to 1 day (protocol.MinEpochSeconds). Exit
// codes: 0 success, 1 failure, 2 usage error.
package main
