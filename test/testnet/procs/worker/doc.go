// Package worker spreads the procs backend over several machines. A
// worker ("imigee-testnet worker") runs on each machine and serves a
// procs.Host: it starts and stops imigee-relay and imigee processes when
// the controller ("imigee-testnet run --mode procs --workers ...") asks,
// passes node control commands on to each node's control socket, streams
// the nodes' events back and scrapes its relays' metrics. Client is the
// controller's side: a procs.Worker whose Machine forwards every call.
// No node or relay protocol logic is here; the worker only runs the same
// binaries the single-machine mode runs.
//
// # Protocol
//
// HTTP/1.1 over TCP, version Version under PathPrefix ("/v1/"). Every
// request carries "Authorization: Bearer TOKEN" (the shared secret from
// --token-file, compared in constant time); a worker without a token
// serves only on loopback, since it starts processes for whoever asks.
//
//	POST /v1/hello                       -> HelloResult{version, capacity}
//	POST /v1/open                        -> OpenResult{run}: replaces the current run
//	POST /v1/relay/create {run, i}       -> AddrsResult{addrs}
//	POST /v1/relay/start  {run, i, relay: {epoch_seconds, peers}}
//	POST /v1/relay/stop   {run, i}
//	POST /v1/relay/stats  {run, i}       -> testnet.RelayStats
//	POST /v1/node/create  {run, i, node: {epoch_seconds, relays}} -> IDResult{id}
//	POST /v1/node/start   {run, i}
//	POST /v1/node/stop    {run, i}
//	POST /v1/node/control {run, i, command: procs.Command} -> ControlResult{result}
//	POST /v1/node/share   {run, i, size, to} -> IDResult{id}: a random photo made on the worker
//	POST /v1/close        {run}          -> CloseResult{dropped_events}
//	GET  /v1/events?run=ID               -> JSON lines of procs.NodeEvent; an empty line every HeartbeatInterval
//
// A failure answers 400 (bad request, unknown index, command not
// allowed), 401, 409 (not the current run), 503 (busy) or 500, with
// {"error": "..."}. Requests are decoded strictly (DecodeRequest:
// unknown fields, trailing data and out-of-range values are errors) and
// answers and events likewise (DecodeResponse, DecodeEvent); FuzzDecode
// covers all three.
//
// # Limits
//
// Everything read is bounded: bodies (MaxRequestBody, MaxResponseBody),
// event lines (MaxEventLine), headers (MaxHeaderBytes), counts and
// lengths of every field (MaxPeers, MaxRecipients, MaxText, ...), and
// time: ReadHeaderTimeout and ReadTimeout on the server, a deadline on
// every client call (CallTimeout, StartCallTimeout, CloseTimeout) and an
// idle limit on the event stream (EventIdleTimeout, three missed
// heartbeats). At most MaxConcurrentRequests are handled at once; the
// worker keeps at most EventBuffer events for a controller that does not
// read, then drops and counts them, and Close reports the count as an
// error, since the results would be incomplete.
//
// # Concurrency
//
// Server: net/http's goroutines per connection; one mutex guards the
// current run; Shutdown cancels the base context (event streams end),
// waits for requests and stops the run's processes. Client: each Machine
// owns one goroutine following the event stream (reconnecting after
// reconnectDelay when it breaks, the worker keeping events meanwhile);
// Close stops it and waits.
//
// # Caveats
//
// When an event stream breaks, the events of the batch whose write
// failed are sent again on the next stream (some may then arrive twice);
// those the kernel had already accepted are lost with the connection.
// One controller per worker: a second open takes the worker
// over. Relay and node ports are random: the machines must reach each
// other on any TCP and UDP port (a private network, or one compose
// network). The token protects the worker, not the traffic: run it on a
// network you trust.
//
// # Tests
//
// TestTwoWorkers runs two worker processes and the controller process on
// 127.0.0.1 with the real binaries: two relays and four nodes split over
// the workers, friends on different workers and relays 49 m apart
// detected by both (P5 across machines), nothing false, every item
// delivered (directly and, for the node that was offline, by mailbox) and
// relay metrics scraped through the workers. TestProtocol and
// TestHTTPLimits check the token, run IDs, request checks and limits;
// TestNoTokenNeedsLoopback the loopback rule; FuzzDecode the decoders.
package worker
