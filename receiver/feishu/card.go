package feishu

import (
	"fmt"
	"strings"

	"github.com/prometheus/alertmanager/template"

	"github.com/gatewarden/gatewarden/receiver/message"
)

// The card is Feishu's message card JSON (msg_type "interactive"), in the
// element vocabulary custom bots accept: div with lark_md text and fields,
// markdown, note, action with link buttons.
type card struct {
	Config   cardConfig `json:"config"`
	Header   cardHeader `json:"header"`
	Elements []element  `json:"elements"`
}

type cardConfig struct {
	WideScreenMode bool `json:"wide_screen_mode"`
}

type cardHeader struct {
	Title    cardText `json:"title"`
	Template string   `json:"template"`
}

type cardText struct {
	Tag     string `json:"tag"` // plain_text or lark_md
	Content string `json:"content"`
}

// element is every element kind in one struct; omitempty leaves each
// kind with only its own keys.
type element struct {
	Tag      string     `json:"tag"`
	Content  string     `json:"content,omitempty"`  // markdown
	Text     *cardText  `json:"text,omitempty"`     // div
	Fields   []field    `json:"fields,omitempty"`   // div
	Actions  []button   `json:"actions,omitempty"`  // action
	Elements []cardText `json:"elements,omitempty"` // note
}

type field struct {
	IsShort bool     `json:"is_short"`
	Text    cardText `json:"text"`
}

type button struct {
	Tag  string   `json:"tag"`
	Text cardText `json:"text"`
	URL  string   `json:"url"`
	Type string   `json:"type"`
}

const timeFormat = "2006-01-02 15:04:05 MST"

func plain(s string) cardText { return cardText{Tag: "plain_text", Content: s} }
func md(s string) *cardText   { return &cardText{Tag: "lark_md", Content: s} }

// colour is the header's template colour. A firing alert of unknown
// severity is red: understating an alert costs more than overstating it.
func colour(m *message.Message) string {
	switch {
	case m.IsResolved():
		return "green"
	case m.Severity == "critical":
		return "red"
	case m.Severity == "warning":
		return "orange"
	case m.Severity == "info", m.Kind == message.KindTest:
		return "blue"
	}
	return "red"
}

// cardPayload renders m with divs, the rendered alerts of m that fit.
// source is the generator URL all of the message's alerts share, if any.
func (n *Notifier) cardPayload(m *message.Message, title string, divs []element, source string) (*payload, error) {
	c := n.cardFrame(m, title)
	if len(m.Alerts) == 0 && m.TruncatedAlerts == 0 {
		// A test or throttle notice has no alerts: its text is the body.
		body, err := n.tmpl.Text(m)
		if err != nil {
			return nil, err
		}
		c.Elements = append(c.Elements, element{Tag: "div", Text: md(body)})
	}
	c.Elements = append(c.Elements, divs...)
	cardFooter(c, m, wordsFor(m.Language), source)
	return &payload{MsgType: "interactive", Card: c}, nil
}

// alertDivs renders every alert once; fitting then only picks how many.
func alertDivs(alerts template.Alerts, details map[string]message.Detail, lang, source string) []element {
	w := wordsFor(lang)
	divs := make([]element, len(alerts))
	for i, a := range alerts {
		d, ok := details[a.Fingerprint]
		var dp *message.Detail
		if ok {
			dp = &d
		}
		divs[i] = alertDiv(a, dp, w, source == "")
	}
	return divs
}

// minimalCard is the last resort, for a notice whose template text alone
// is too large: header, mentions, the count and the buttons.
func (n *Notifier) minimalCard(m *message.Message, title string) *payload {
	c := n.cardFrame(m, title)
	cardFooter(c, m, wordsFor(m.Language), "")
	return &payload{MsgType: "interactive", Card: c}
}

func (n *Notifier) cardFrame(m *message.Message, title string) *card {
	c := &card{
		Config: cardConfig{WideScreenMode: true},
		Header: cardHeader{Title: plain(title), Template: colour(m)},
	}
	if at := n.mentions(m, `<at id=%s></at>`); at != "" {
		c.Elements = append(c.Elements, element{Tag: "markdown", Content: at})
	}
	return c
}

// cardFooter adds the "and N more" note and the buttons. The source button
// is there only when every alert comes from one place (the usual case: one
// rule); otherwise each alert links its own.
func cardFooter(c *card, m *message.Message, w words, source string) {
	if m.TruncatedAlerts > 0 {
		c.Elements = append(c.Elements, element{Tag: "note", Elements: []cardText{plain(w.moreText(m.TruncatedAlerts))}})
	}
	var buttons []button
	if m.AckURL != "" && len(m.AckURL) <= maxURL {
		buttons = append(buttons, button{Tag: "button", Text: plain(w.ack), URL: m.AckURL, Type: "primary"})
	}
	if source != "" {
		buttons = append(buttons, button{Tag: "button", Text: plain(w.source), URL: source, Type: "default"})
	}
	if len(buttons) > 0 {
		c.Elements = append(c.Elements, element{Tag: "action", Actions: buttons})
	}
}

// alertDiv is one alert: summary, description, the value against its
// threshold and times as markdown, the labels as short fields (two per row
// on a wide screen).
func alertDiv(a template.Alert, d *message.Detail, w words, withSource bool) element {
	var b strings.Builder
	icon, summary := "🔥", a.Annotations["summary"]
	if a.Status == "resolved" {
		icon = "✅"
	}
	if summary == "" {
		summary = a.Labels["alertname"]
	}
	fmt.Fprintf(&b, "%s **%s**", icon, summary)
	if desc := a.Annotations["description"]; desc != "" {
		b.WriteString("\n" + desc)
	}
	if d != nil && d.ValueText() != "" {
		fmt.Fprintf(&b, "\n%s**%s**", w.value, d.ValueText())
		if t := d.ThresholdText(); t != "" {
			b.WriteString(w.threshold + t)
		}
		if d.Window != "" {
			b.WriteString(w.window + d.Window)
		}
	}
	if !a.StartsAt.IsZero() {
		fmt.Fprintf(&b, "\n%s%s", w.since, a.StartsAt.UTC().Format(timeFormat))
	}
	if a.Status == "resolved" && !a.EndsAt.IsZero() {
		fmt.Fprintf(&b, " · %s%s", w.resolved, a.EndsAt.UTC().Format(timeFormat))
	}
	if withSource && a.GeneratorURL != "" {
		fmt.Fprintf(&b, "\n[%s](%s)", w.source, a.GeneratorURL)
	}
	e := element{Tag: "div", Text: md(b.String())}
	for _, p := range a.Labels.SortedPairs() {
		e.Fields = append(e.Fields, field{IsShort: true, Text: *md("**" + p.Name + "**: " + p.Value)})
	}
	return e
}

// commonSource is the generator URL every alert shares, empty if they
// differ or there is none.
func commonSource(alerts template.Alerts) string {
	if len(alerts) == 0 {
		return ""
	}
	u := alerts[0].GeneratorURL
	for _, a := range alerts[1:] {
		if a.GeneratorURL != u {
			return ""
		}
	}
	return u
}
