package node

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"

	"github.com/imigee/imigee/node/localstore"
)

func (n *Node) putJSON(bucket, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return n.store.Put(bucket, name, b)
}

func (n *Node) getJSON(bucket, name string, v any) error {
	b, err := n.store.Get(bucket, name)
	if err != nil {
		if errors.Is(err, localstore.ErrNotFound) {
			return nil
		}
		return err
	}
	return json.Unmarshal(b, v)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func hexs(b []byte) string { return hex.EncodeToString(b) }
