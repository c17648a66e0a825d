// Package mobile is the gomobile-bindable facade of package node: only
// strings, []byte, bool, int, int64, float64, error and pointers to structs
// of those cross the boundary. Lists come back as JSON strings (an empty
// list is "[]", never "null"); lists go in as comma-separated IDs. Events
// arrive through the EventHandler callback interface, implemented in
// Kotlin or Swift.
//
// # Boundary
//
// Every exported method recovers a panic: the call returns an error with
// CodeInternal and a scrubbed report (function names only) goes to
// Config.Crash and the Logger; with analytics on, every live node counts
// it as one crash in the hash bucket of the panicking function's name
// (crashcount.go: no name or text is kept). A nil *Config or a nil required argument
// gives CodeBadArgument. Every error carries an integer code (ErrorCode)
// mapped from node's sentinel errors, and its message starts with the
// code's name so the code survives a Java exception or an NSError. Event
// kinds, failure reasons, paths and precisions are exported constants.
// Logs go to Config.Logger (a callback with a level) through a log/slog
// handler.
//
// # Concurrency
//
// Every method is safe to call from any thread. OnEvent is called from one
// library goroutine, in order; Logger.Log and CrashReporter.OnCrash from
// any. docs/mobile.md lists which calls block and for how long.
//
// # Tests
//
// Tests drive the facade only, over real libp2p hosts and a real relay on
// 127.0.0.1: TestPanicBecomesError (an injected panic in a call becomes
// CodeInternal and a scrubbed report), TestNilConfig (BAD_ARGUMENT),
// TestErrorCodes, TestLoggerBridge, TestFacadeLifecycle;
// TestBackgroundDropsKeepalives (datagrams counted through a UDP
// forwarder between the node and its relay: none in a window longer than
// the QUIC keepalive period once backgrounded), TestStopStart,
// TestSyncOnceInBackground, TestBackgroundWakesForOwnRetry,
// TestForgetWhileAsleep; TestPushWakesBackgroundedNode (a real HTTP
// endpoint gets an empty POST, then SyncOnce delivers),
// TestPushOnlyToAllowedHosts (SSRF); TestDataAPI, TestEmptyListsAreArrays,
// TestLinkPendingThenConfirmed; TestTogetherFacade (MeetingsJSON after a
// live meeting, the together policy as JSON, capture time in the friend's
// inbox JSON, proposals, time zones by name), TestEventCarriesMeetingTimes;
// TestCrashCountedBySignature and TestTopFunction (crash signatures in
// analytics). Measurements (MOBILE_MEASURE=1):
// TestMeasureIdleTraffic, TestMeasureSyncOnce100Friends.
//
// # Lifecycle, push, data
//
// Stop/Start, SetAppState, SyncOnce, NetworkChanged and SetPushEndpoint
// (lifecycle.go) wrap node's lifecycle; InboxPage, Item, DeleteItem,
// MarkSeen, FriendJSON and LinkResult (data.go) its data API. together.go
// (issue 10): MeetingsJSON, SharePhotoTaken/ShareVideoTaken,
// SharePhotoTogether/ShareVideoTogether, ProposalsJSON, AcceptProposal,
// DismissProposal and SetTimeZone (IANA names; time/tzdata is embedded so
// they resolve on every platform).
//
// Build: see docs/mobile.md for the gomobile bind lines.
package mobile
