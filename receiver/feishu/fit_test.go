package feishu

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	commoncfg "github.com/prometheus/common/config"

	"github.com/gatewarden/gatewarden/receiver/message"
	"github.com/gatewarden/gatewarden/receiver/templates"
)

// deliver sends m and returns the raw body, checked to be valid JSON, valid
// UTF-8 and under the limit (the stand-in also fails the test on size).
func deliver(t *testing.T, cfg Config, m *message.Message, opts ...Option) []byte {
	t.Helper()
	s := newStandIn(t, "size-secret")
	if _, err := notifier(t, s, cfg, newClock(), opts...).Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	raw := s.received()[0]
	if len(raw) >= MaxBodyBytes {
		t.Fatalf("body of %d bytes", len(raw))
	}
	if !json.Valid(raw) || !utf8.Valid(raw) {
		t.Fatalf("body is not valid JSON in UTF-8")
	}
	return raw
}

func decode(t *testing.T, raw []byte) map[string]any {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatal(err)
	}
	return body
}

var moreN = regexp.MustCompile(`(?:\.\.\. and (\d+) more|……另有 (\d+) 条)`)

// more reads N from the "and N more" line.
func more(t *testing.T, s string) int {
	t.Helper()
	m := moreN.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("no 'and N more' in %q", s)
	}
	n, _ := strconv.Atoi(m[1] + m[2])
	return n
}

func TestThousandAlerts(t *testing.T) {
	for _, lang := range []string{"en", "zh"} {
		t.Run("card "+lang, func(t *testing.T) {
			body := decode(t, deliver(t, Config{}, msg(1000, "firing", "critical", lang)))
			shown := len(elements(body, "div"))
			note := at(elements(body, "note")[0], "elements", 0, "content").(string)
			if shown < 10 || shown+more(t, note) != 1000 {
				t.Errorf("%d shown, note %q: want every alert shown or counted", shown, note)
			}
			if lang == "zh" && !strings.HasPrefix(note, "……另有") {
				t.Errorf("note %q is not Chinese", note)
			}
			if title := at(body, "card", "header", "title", "content").(string); !strings.Contains(title, ":1000]") {
				t.Errorf("title %q does not count every alert", title)
			}
		})
		t.Run("text "+lang, func(t *testing.T) {
			body := decode(t, deliver(t, Config{MessageType: MessageTypeText}, msg(1000, "firing", "critical", lang)))
			text := at(body, "content", "text").(string)
			shown := strings.Count(text, "\n- ")
			if shown < 10 || shown+more(t, text) != 1000 {
				t.Errorf("%d shown, %d more", shown, more(t, text))
			}
		})
	}
}

func TestHugeAnnotation(t *testing.T) {
	for _, typ := range []string{MessageTypeCard, MessageTypeText} {
		t.Run(typ, func(t *testing.T) {
			m := msg(1, "firing", "warning", "zh")
			// Three-byte runes and an odd length, so a byte cut would split one.
			m.Alerts[0].Annotations["description"] = "x" + strings.Repeat("告警", 200_000)
			raw := deliver(t, Config{MessageType: typ}, m)
			if !regexp.MustCompile(`[告警]` + ellipsis).Match(raw) {
				t.Error("the annotation was not cut with an ellipsis")
			}
			if !strings.Contains(string(raw), "Master m0 answers") {
				t.Error("the alert itself was dropped")
			}
		})
	}
}

// Fifty 1 KB labels do not fit at the first cap; the cap shrinks until the
// alert does.
func TestManyLargeLabels(t *testing.T) {
	m := msg(3, "firing", "warning", "en")
	for i := range 50 {
		m.Alerts[0].Labels[fmt.Sprintf("l%02d", i)] = strings.Repeat("v", 1024)
	}
	body := decode(t, deliver(t, Config{}, m))
	divs := elements(body, "div")
	if len(divs) == 0 || len(at(divs[0], "fields").([]any)) != 53 {
		t.Fatalf("the alert with large labels is not shown whole: %d divs", len(divs))
	}
}

func TestHugeURLsDropped(t *testing.T) {
	m := msg(1, "firing", "warning", "en")
	m.Alerts[0].GeneratorURL = "http://gw/" + strings.Repeat("q", 30_000)
	m.AckURL = "http://gw/" + strings.Repeat("a", 30_000)
	body := decode(t, deliver(t, Config{}, m))
	if len(elements(body, "div")) != 1 || len(elements(body, "action")) != 0 {
		t.Errorf("oversized URLs kept or the alert lost: %v", body)
	}
}

// A user template that prints too much by itself falls back to the
// built-in minimal message.
func TestTemplateTooLarge(t *testing.T) {
	file := filepath.Join(t.TempDir(), "big.tmpl")
	big := `{{ define "gatewarden.text.en" }}` + strings.Repeat("blah ", 10_000) + `{{ end }}`
	if err := os.WriteFile(file, []byte(big), 0o600); err != nil {
		t.Fatal(err)
	}
	tm, err := templates.New(file)
	if err != nil {
		t.Fatal(err)
	}
	deliverWith := func(typ string, m *message.Message) map[string]any {
		s := newStandIn(t, "k")
		cfg := Config{URL: commoncfg.Secret(s.URL()), Secret: "k", MessageType: typ}
		c := newClock()
		s.now = c.Now
		n, err := New(&cfg, tm, nil, WithClock(c.Now), WithSleep(c.Sleep), WithLimiter(NewLimiter()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := n.Notify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		return s.last()
	}

	text := at(deliverWith(MessageTypeText, msg(5, "firing", "warning", "en")), "content", "text").(string)
	if !strings.HasPrefix(text, "[FIRING:5]") || more(t, text) != 5 {
		t.Errorf("fallback text %q", text)
	}
	notice := msg(0, "firing", "", "en")
	notice.Kind = message.KindTest
	card := deliverWith(MessageTypeCard, notice)
	if title := at(card, "card", "header", "title", "content").(string); !strings.HasPrefix(title, "[TEST]") || len(elements(card, "div")) != 0 {
		t.Errorf("fallback card: %v", card)
	}
}

func TestTruncate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"abc", 3, "abc"},
		{"abcd", 3, ""}, // no room for a character and the ellipsis
		{"abcdef", 5, "ab…"},
		{"告警告警", 9, "告警…"},
		{"告警告警", 8, "告…"},
		{"告警告警", 12, "告警告警"},
	} {
		got := truncate(tc.in, tc.max)
		if got != tc.want || len(got) > tc.max || !utf8.ValidString(got) {
			t.Errorf("truncate(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}
