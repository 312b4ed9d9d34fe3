package feishu

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/prometheus/alertmanager/template"

	"github.com/gatewarden/gatewarden/receiver/message"
)

// Size budget. Feishu refuses a body over 20 KB (and a card over ~30 KB);
// a refused message is lost, so the body is cut to fit before it is sent.
const (
	// MaxBodyBytes is the limit every request body stays under.
	MaxBodyBytes = 20000
	// signReserve is room for "timestamp" and "sign", added after fitting
	// because they are computed at the last moment.
	signReserve = len(`,"timestamp":"","sign":""`) + 20 + 44
	// Every label and annotation value starts cut to fieldCap bytes; if not
	// even one alert fits, the cap halves down to minFieldCap.
	fieldCap    = 2048
	minFieldCap = 64
	// A URL is dropped rather than cut: half a link is no link.
	maxURL   = 4096
	maxTitle = 256
)

const ellipsis = "…"

// payload renders m for Feishu: as many alerts as fit, firing first, and
// an "and N more" for the rest.
func (n *Notifier) payload(m *message.Message) (*payload, error) {
	budget := MaxBodyBytes - 1 - signReserve
	base := *m
	if n.cfg.Language != "" {
		base.Language = n.cfg.Language
	}
	// The title counts every alert ("[FIRING:1000]"), not only those shown.
	title, err := n.tmpl.Title(&base)
	if err != nil {
		return nil, fmt.Errorf("title: %w", err)
	}
	title = truncate(defuse(title), maxTitle)
	alerts := firingFirst(m.Alerts)

	var fallback *payload
	for c := fieldCap; c >= minFieldCap; c /= 2 {
		draft := n.draft(&base, clipAlerts(alerts, c), title)
		k, p, err := largest(len(alerts), func(k int) (*payload, bool, error) {
			p, err := draft(k)
			if err != nil {
				return nil, false, err
			}
			b, err := encode(p)
			return p, len(b) <= budget, err
		})
		if err != nil {
			return nil, err
		}
		if p != nil && (k > 0 || len(alerts) == 0) {
			return p, nil
		}
		if p != nil && fallback == nil {
			fallback = p // the count alone fits; a smaller cap may fit an alert
		}
		if len(alerts) == 0 {
			break // the cap cannot help
		}
	}
	if fallback != nil {
		return fallback, nil
	}
	return n.lastResort(subset(&base, nil, 0), title, budget)
}

// draft returns a renderer of m with its first k alerts, doing up front
// what does not depend on k.
func (n *Notifier) draft(m *message.Message, alerts template.Alerts, title string) func(k int) (*payload, error) {
	if n.cfg.messageType() == MessageTypeText {
		return func(k int) (*payload, error) { return n.textPayload(subset(m, alerts, k), title) }
	}
	source := commonSource(alerts)
	divs := alertDivs(alerts, m.Details, m.Language, source)
	return func(k int) (*payload, error) {
		return n.cardPayload(subset(m, alerts, k), title, divs[:k], source)
	}
}

// lastResort serves a template that prints too much by itself: the
// built-in minimal message, the text cut to size if need be.
func (n *Notifier) lastResort(m *message.Message, title string, budget int) (*payload, error) {
	var p *payload
	if n.cfg.messageType() == MessageTypeText {
		s := title
		if m.TruncatedAlerts > 0 {
			s += "\n" + wordsFor(m.Language).moreText(m.TruncatedAlerts)
		}
		p = n.textOf(m, s)
	} else {
		p = n.minimalCard(m, title)
	}
	b, err := encode(p)
	if err != nil {
		return nil, err
	}
	if over := len(b) - budget; over > 0 && p.Content != nil {
		p.Content.Text = truncate(p.Content.Text, len(p.Content.Text)-over)
		return p, nil
	}
	if len(b) > budget {
		return nil, errors.New("message does not fit Feishu's size limit")
	}
	return p, nil
}

// largest finds the largest k ≤ n whose payload fits, by bisection: the
// size grows with k. It returns k = -1 and no payload when none fits.
func largest(n int, fits func(k int) (*payload, bool, error)) (int, *payload, error) {
	p, ok, err := fits(n)
	if err != nil || ok {
		return n, p, err
	}
	lo, hi := -1, n // fits(lo) or lo == -1; !fits(hi)
	var best *payload
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		p, ok, err := fits(mid)
		if err != nil {
			return 0, nil, err
		}
		if ok {
			lo, best = mid, p
		} else {
			hi = mid
		}
	}
	return lo, best, nil
}

// subset is m with only the first k alerts; the rest are counted in
// TruncatedAlerts, on top of those the receiver already left out.
func subset(m *message.Message, alerts template.Alerts, k int) *message.Message {
	d := *m.Data
	d.Alerts = alerts[:k]
	d.CommonLabels = clipKV(d.CommonLabels, fieldCap)
	d.CommonAnnotations = clipKV(d.CommonAnnotations, fieldCap)
	d.GroupLabels = clipKV(d.GroupLabels, fieldCap)
	out := *m
	out.Data = &d
	out.TruncatedAlerts = m.TruncatedAlerts + uint64(len(m.Alerts)-k)
	return &out
}

// firingFirst orders firing alerts before resolved ones, as the templates
// list them, so the ones cut are recoveries.
func firingFirst(alerts template.Alerts) template.Alerts {
	out := make(template.Alerts, 0, len(alerts))
	for _, resolved := range []bool{false, true} {
		for _, a := range alerts {
			if (a.Status == "resolved") == resolved {
				out = append(out, a)
			}
		}
	}
	return out
}

func clipAlerts(alerts template.Alerts, limit int) template.Alerts {
	out := make(template.Alerts, len(alerts))
	for i, a := range alerts {
		a.Labels = clipKV(a.Labels, limit)
		a.Annotations = clipKV(a.Annotations, limit)
		if len(a.GeneratorURL) > maxURL {
			a.GeneratorURL = ""
		}
		out[i] = a
	}
	return out
}

func clipKV(kv template.KV, limit int) template.KV {
	if kv == nil {
		return nil
	}
	out := make(template.KV, len(kv))
	for k, v := range kv {
		out[truncate(defuse(k), limit)] = truncate(defuse(v), limit)
	}
	return out
}

// truncate cuts s to at most limit bytes, on a rune boundary, marking the
// cut.
func truncate(s string, limit int) string {
	if len(s) <= limit {
		return s
	}
	cut := limit - len(ellipsis)
	if cut <= 0 {
		return ""
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + ellipsis
}

// defuse breaks "<at" in alert data with a zero-width space: a label value
// scraped from the gateway, or an annotation, must not mention anyone —
// least of all "<at id=all>".
func defuse(s string) string {
	if !strings.Contains(s, "<") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteByte(s[i])
		if s[i] == '<' && i+2 < len(s) && strings.EqualFold(s[i+1:i+3], "at") {
			b.WriteString("\u200b")
		}
	}
	return b.String()
}
