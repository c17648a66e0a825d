// Command imigee-demo is "make demo": it runs Imigee on one machine and
// tells what happens, with timings.
//
// With no arguments it takes imigee and imigee-relay from its own
// directory (bin/ after "make build"), makes a temporary directory, and:
//
//  1. starts a relay (imigee-relay run, QUIC and TCP on 127.0.0.1, admin
//     /metrics on a random loopback port);
//  2. creates and starts three nodes, alice, bob and carol (imigee init and
//     imigee run -json, each a real process with its own data directory);
//  3. links them: alice invites bob, then carol (imigee invite / link);
//  4. puts alice and bob about 40 m apart at the same square (imigee
//     locate) and waits for "friend_nearby" on both;
//  5. alice shares a generated PNG with bob; bob is offered it, accepts, and
//     receives it directly; the bytes are compared;
//  6. stops carol, has alice share the photo with her, and waits for
//     alice's "queued_at_relay" event (after node.DirectDialBudget, about
//     2 s, of trying carol directly); the relay's imigee_relay_store_blobs
//     gauge then tells how many sealed blobs it holds;
//  7. starts carol again: she fetches her mailbox, is offered the photo,
//     accepts and receives it through the relay; alice gets the receipt;
//  8. checks that the relay holds no blob any more;
//  9. with -late (late.go; about a minute more): a festival without
//     reception. alice goes offline (imigee network none), alice and bob
//     stand 30 m apart, alice takes a JPEG (EXIF DateTimeOriginal) and
//     shares it with "share -auto" (nobody known: it waits); both go home;
//     after the epoch ends alice gets reception back (network wifi), her
//     phone announces the missed epoch late, the relay's history matches
//     bob's, both get friend_was_nearby with the festival's times, and the
//     photo is auto-shared with bob, who accepts and receives it.
//
// It talks to the nodes only through the imigee CLI (with -json) and their
// event streams, like a script of a user would. The proximity epoch is 60
// s, the shortest relays accept; meeting does not wait for an epoch because
// a node announces as soon as it enters a new cell. A run takes about 10 s.
//
// Exit status 0 means every step happened. On success, failure or Ctrl-C it
// stops every child (SIGTERM, then SIGKILL after 10 s) and removes the
// temporary directory, unless -keep asks to keep it (logs are there). The
// children run in their own process groups so that a Ctrl-C reaches only
// the demo, which then stops them in order.
//
// test/nodee2e's TestDemo runs this program and checks the story.
package main
