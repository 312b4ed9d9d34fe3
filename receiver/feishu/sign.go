package feishu

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
)

// Sign computes a custom bot's signature the way Feishu checks it. Feishu
// makes timestamp+"\n"+secret the HMAC *key* and signs an empty message —
// the reverse of the usual HMAC use, which is why bridges that sign the
// string with the secret as key get code 19021. timestamp is Unix seconds as
// sent in the body; Feishu rejects it more than an hour from its clock.
func Sign(timestamp, secret string) string {
	mac := hmac.New(sha256.New, []byte(timestamp+"\n"+secret))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}
