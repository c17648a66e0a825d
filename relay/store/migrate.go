package store

import (
	"bytes"
	"encoding/binary"
	"errors"

	bolt "go.etcd.io/bbolt"
)

// migrateV1 converts a format-1 file in place, in the init transaction:
// each expiry entry gets the blob's size as its value (read from the old
// on-disk mailbox index), then the old index and counters are dropped.
// Their content is rebuilt in memory at every Open now. It is one
// transaction, so a crash leaves the file either format 1 or format 2.
func migrateV1(tx *bolt.Tx) error {
	blobs, expiry, meta := tx.Bucket(bucketBlobsV1), tx.Bucket(bucketExpiry), tx.Bucket(bucketMeta)
	expiry.FillPercent = expiryFillPercent
	if blobs == nil || expiry == nil {
		return errors.New("format 1 file without its buckets")
	}
	type fix struct{ k, v []byte }
	var fixes []fix
	err := expiry.ForEach(func(k, _ []byte) error {
		var v []byte
		if len(k) == expiryKeyLen {
			// A format-1 blobs value is expires(8) ‖ size(4).
			if bv := blobs.Get(k[8:]); len(bv) == 12 && bytes.Equal(bv[:8], k[:8]) {
				v = expiryValue(int(binary.BigEndian.Uint32(bv[8:])))
			}
		}
		fixes = append(fixes, fix{bytes.Clone(k), v}) // nil: orphan, dropped
		return nil
	})
	if err != nil {
		return err
	}
	for _, f := range fixes {
		if f.v == nil {
			err = expiry.Delete(f.k)
		} else {
			err = expiry.Put(f.k, f.v)
		}
		if err != nil {
			return err
		}
	}
	for _, name := range [][]byte{bucketBlobsV1, bucketMailboxesV1} {
		if tx.Bucket(name) != nil {
			if err := tx.DeleteBucket(name); err != nil {
				return err
			}
		}
	}
	if err := meta.Delete(metaTotalsV1); err != nil {
		return err
	}
	return meta.Put(metaVersion, u64(formatVersion))
}
