package node

// Sharing what was taken together (issue 10): items with a capture time,
// the "taken while together" share policy, and proposing or auto-sharing
// photos once a meeting covering their capture time becomes known (live or
// late). meetings.go calls meetingKnown for every new meeting span.

// meetingKnown is called (outside any lock) for every newly recorded
// meeting span, live or late.
func (n *Node) meetingKnown(m Meeting) {}
