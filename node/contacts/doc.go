// Package contacts is the phone side of contact matching: it normalises
// handles (phone numbers with github.com/nyaruka/phonenumbers, social and
// email handles lower-cased with their scheme), reads contacts from vCard
// files (github.com/emersion/go-vcard), and speaks /imigee/contacts/1 to a
// relay (Client: challenge, proof of work, one OPRF stage, post and
// withdraw of pending entries). The cryptography is in package crypto
// (contact.go); the node glues these into SyncContacts and link proposals
// (node/contactmatch.go).
//
// Handles are the only personal data this package touches. It never logs
// them and never sends them: the client sends only blinded elements, entry
// IDs, sealed offers and withdraw secrets.
//
// # Concurrency
//
// Normalize and ReadVCards are pure. A Client serves one caller at a time
// (one request in flight on its stream); the node opens one per sync.
package contacts
