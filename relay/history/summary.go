package history

// A session's summary: what keeps a session's k-th announcement in an
// epoch from walking the entries of all k−1 before it (put must skip the
// tokens the session stored already, write.go). Once a session has
// mergeAt announcements in an epoch not yet summarised, their entries
// are merged into one sorted value in sub-bucket "s" under the key
// originHash (apart from the origin index, whose small entries are
// written at every announcement: a summary beside them would be rewritten
// with their page at each commit):
//
//	version(1)=1 ‖ upTo(8) ‖ n × (entry(8) ‖ aid(8)), sorted
//
// upTo is the last announcement merged. A later announcement looks its
// tokens up there (binary search) and walks only the announcements after
// upTo. The summary is a hint: every aid it names is confirmed against
// that announcement's live entries before it counts, so
// entries an upgrade dropped may stay in it; erase prunes the erased
// announcement's entries (and the summary with the session's last
// announcement). The usual session (one announcement per epoch, a few
// at most) never gets one; the rendezvous token budget (4,096 distinct
// tokens per session and epoch) bounds its size.

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
)

const (
	// mergeAt is how many announcements of a session are walked before
	// they are merged into its summary: 16.
	mergeAt = 16

	summaryVersion = 1
	summaryRec     = 16
)

// decodeSummary reads a summary; ents aliases v.
func decodeSummary(v []byte) (upTo uint64, ents []byte, err error) {
	if len(v) < 9 || v[0] != summaryVersion || (len(v)-9)%summaryRec != 0 {
		return 0, nil, fmt.Errorf("%w: session summary of %d bytes", ErrCorrupt, len(v))
	}
	return binary.BigEndian.Uint64(v[1:]), v[9:], nil
}

type sumRec struct{ entry, aid uint64 }

func encodeSummary(upTo uint64, recs []sumRec) []byte {
	b := make([]byte, 0, 9+summaryRec*len(recs))
	b = append(b, summaryVersion)
	b = binary.BigEndian.AppendUint64(b, upTo)
	for _, r := range recs {
		b = binary.BigEndian.AppendUint64(b, r.entry)
		b = binary.BigEndian.AppendUint64(b, r.aid)
	}
	return b
}

func summaryRecs(ents []byte) []sumRec {
	recs := make([]sumRec, len(ents)/summaryRec)
	for i := range recs {
		recs[i] = sumRec{binary.BigEndian.Uint64(ents[summaryRec*i:]), binary.BigEndian.Uint64(ents[summaryRec*i+8:])}
	}
	return recs
}

// summaryHits marks in hits the aids whose summarised entries carry one
// of the hashes hs (bit 0 clear).
func summaryHits(ents []byte, hs []uint64, hits map[uint64]bool) {
	n := len(ents) / summaryRec
	at := func(i int) uint64 { return binary.BigEndian.Uint64(ents[summaryRec*i:]) }
	for _, h := range hs {
		for i := sort.Search(n, func(i int) bool { return at(i) >= h }); i < n && at(i)&^1 == h; i++ {
			hits[binary.BigEndian.Uint64(ents[summaryRec*i+8:])] = true
		}
	}
}

// merge folds the entries of the session's announcements unmerged (after
// its summary's upTo) and last (just stored) into its summary, and
// returns the change in counted bytes. The new entries are sorted and
// merged into the sorted old ones in one pass: O(summary) per merge, one
// merge per mergeAt announcements.
func (ep *epoch) merge(oh []byte, unmerged []uint64, last uint64) (int64, error) {
	old := ep.s.Get(oh)
	var ents []byte
	if old != nil {
		var err error
		if _, ents, err = decodeSummary(old); err != nil {
			return 0, err
		}
	}
	var recs []sumRec
	for _, aid := range append(unmerged, last) {
		v := ep.a.Get(aidKey(aid))
		if v == nil {
			return 0, fmt.Errorf("%w: origin entry without announcement", ErrCorrupt)
		}
		st, err := decodeStored(v)
		if err != nil {
			return 0, err
		}
		for p := 0; p < len(st.hashes); p += 8 {
			recs = append(recs, sumRec{binary.BigEndian.Uint64(st.hashes[p:]), aid})
		}
	}
	less := func(a, b sumRec) int {
		if c := cmp.Compare(a.entry, b.entry); c != 0 {
			return c
		}
		return cmp.Compare(a.aid, b.aid)
	}
	slices.SortFunc(recs, less)
	nv := make([]byte, 0, 9+len(ents)+summaryRec*len(recs))
	nv = append(nv, summaryVersion)
	nv = binary.BigEndian.AppendUint64(nv, last)
	j := 0
	for i := 0; i < len(ents); i += summaryRec {
		o := sumRec{binary.BigEndian.Uint64(ents[i:]), binary.BigEndian.Uint64(ents[i+8:])}
		for ; j < len(recs) && less(recs[j], o) < 0; j++ {
			nv = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nv, recs[j].entry), recs[j].aid)
		}
		nv = append(nv, ents[i:i+summaryRec]...)
	}
	for ; j < len(recs); j++ {
		nv = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nv, recs[j].entry), recs[j].aid)
	}
	delta := int64(len(nv) - len(old))
	if old == nil {
		delta += int64(len(oh)) + elemOverhead
	}
	return delta, ep.s.Put(oh, nv)
}

// pruneSummary drops erased aid's entries from its session's summary
// (oh), or the summary itself once the session has no announcement left,
// and returns the change in counted bytes. It runs after aid's origin
// entry is deleted.
func (ep *epoch) pruneSummary(oh []byte, aid uint64) (int64, error) {
	sv := ep.s.Get(oh)
	if sv == nil {
		return 0, nil
	}
	upTo, ents, err := decodeSummary(sv)
	if err != nil {
		return 0, err
	}
	if k, _ := ep.o.Cursor().Seek(oh); k == nil || !bytes.HasPrefix(k, oh) {
		return -int64(len(oh) + len(sv) + elemOverhead), ep.s.Delete(oh)
	}
	recs := summaryRecs(ents) // a fresh slice: filtered in place
	n := len(recs)
	kept := slices.DeleteFunc(recs, func(r sumRec) bool { return r.aid == aid })
	if len(kept) == n {
		return 0, nil
	}
	nv := encodeSummary(upTo, kept)
	return int64(len(nv) - len(sv)), ep.s.Put(oh, nv)
}
