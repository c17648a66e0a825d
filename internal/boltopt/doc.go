// Package boltopt owns what NoSync means for every bbolt store of the
// project (the node's local store, the relay's mailbox store, history,
// contacts and analytics): one place, so a simulation's stores all skip
// the same work and wait the same stand-in for it.
package boltopt
