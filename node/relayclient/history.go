package relayclient

// The relay's history of past announcements (issue 10): live announcements
// carry a per-epoch forget tag so the device can erase them later; late
// announcements (epochs in which the device had no relay) are matched
// against that history; HistoryForget erases by revealing the tags'
// secrets. See docs/PROTOCOL.md.

import (
	"context"

	"github.com/imigee/imigee/protocol"
	"github.com/imigee/imigee/protocol/pb"
)

// ForgetSecret names the history entries of one epoch to erase: those
// whose forget tag is crypto.HistoryForgetTag(Secret).
type ForgetSecret struct {
	Epoch  uint64
	Secret [protocol.ForgetSecretSize]byte
}

// AnnounceTagged is AnnounceShared with a forget tag (empty, or
// protocol.ForgetSecretSize bytes) stored beside the announcement in the
// relay's history.
func (rv *Rendezvous) AnnounceTagged(ctx context.Context, epochSeconds uint32, epoch uint64, shared, forgetTag []byte, anns []Announcement) (int, []Match, error) {
	return rv.announce(ctx, false, &pb.Announce{Epoch: epoch, EpochSeconds: epochSeconds, SharedRecord: shared, ForgetTag: forgetTag}, anns)
}

// LateAnnounce announces a past epoch: the relay matches it against its
// history only and returns the matches (the stored side's records). It
// never enters live matching, so nothing arrives later through onMatch.
// Outside the relay's window the error is protocol.ErrStale; with history
// off, protocol.ErrUnsupported.
func (rv *Rendezvous) LateAnnounce(ctx context.Context, epochSeconds uint32, epoch uint64, shared, forgetTag []byte, anns []Announcement) (int, []Match, error) {
	return rv.announce(ctx, true, &pb.Announce{Epoch: epoch, EpochSeconds: epochSeconds, SharedRecord: shared, ForgetTag: forgetTag}, anns)
}

// HistoryForget erases the history entries the secrets name (at most
// protocol.MaxForgetSecrets) and returns how many the relay erased.
func (rv *Rendezvous) HistoryForget(ctx context.Context, secrets []ForgetSecret) (int, error) {
	hf := &pb.HistoryForget{Secrets: make([]*pb.ForgetSecret, len(secrets))}
	for i, s := range secrets {
		hf.Secrets[i] = &pb.ForgetSecret{Epoch: s.Epoch, Secret: append([]byte(nil), s.Secret[:]...)}
	}
	req := &pb.RendezvousRequest{Body: &pb.RendezvousRequest_HistoryForget{HistoryForget: hf}}
	if err := protocol.ValidateRendezvousRequest(&pb.RendezvousRequest{Id: 1, Body: req.Body}); err != nil {
		return 0, err
	}
	resp, err := rv.call(ctx, req)
	if err != nil {
		return 0, err
	}
	r := resp.GetHistoryForget()
	if r == nil {
		return 0, ErrBadResponse
	}
	return int(r.Erased), nil
}
