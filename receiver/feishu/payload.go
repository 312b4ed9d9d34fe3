package feishu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/gatewarden/gatewarden/receiver/message"
)

// payload is the body of a custom bot request. timestamp and sign sit
// beside the message, not in headers: that is where Feishu looks.
type payload struct {
	Timestamp string       `json:"timestamp,omitempty"`
	Sign      string       `json:"sign,omitempty"`
	MsgType   string       `json:"msg_type"`
	Content   *textContent `json:"content,omitempty"`
	Card      *card        `json:"card,omitempty"`
}

type textContent struct {
	Text string `json:"text"`
}

// encode marshals without HTML escaping: Feishu reads "<at>" tags, and
// "\u003c" would cost five extra bytes of the 20 KB each.
func encode(p *payload) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(p); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// textPayload is the plain fallback: mentions, the title, then the text
// template, which prints its own "and N more" line.
func (n *Notifier) textPayload(m *message.Message, title string) (*payload, error) {
	body, err := n.tmpl.Text(m)
	if err != nil {
		return nil, err
	}
	return n.textOf(m, title+"\n"+body), nil
}

func (n *Notifier) textOf(m *message.Message, s string) *payload {
	if at := n.mentions(m, `<at user_id="%s"></at>`); at != "" {
		s = at + "\n" + s
	}
	return &payload{MsgType: "text", Content: &textContent{Text: s}}
}

// mentions renders the configured mentions in format, one per id. A
// recovery mentions no one: it needs nobody to act, and waking people to
// say so teaches them to mute the bot.
func (n *Notifier) mentions(m *message.Message, format string) string {
	if m.IsResolved() {
		return ""
	}
	var at []string
	for _, id := range n.cfg.Mentions {
		at = append(at, fmt.Sprintf(format, id))
	}
	if n.cfg.MentionAll {
		at = append(at, fmt.Sprintf(format, "all"))
	}
	return strings.Join(at, " ")
}
