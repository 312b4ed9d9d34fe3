package feishu

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/receiver/message"
	"github.com/gatewarden/gatewarden/receiver/templates"
)

// send delivers m through a fresh stand-in and returns the decoded body.
func send(t *testing.T, cfg Config, m *message.Message) map[string]any {
	t.Helper()
	s := newStandIn(t, "card-secret")
	if _, err := notifier(t, s, cfg, newClock()).Notify(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	return s.last()
}

func TestCard(t *testing.T) {
	m := msg(2, "firing", "critical", "en")
	m.TruncatedAlerts = 3
	m.Alerts[0].Fingerprint = "fp0"
	m.Details = map[string]message.Detail{"fp0": {Value: message.Number(0.0712), Threshold: message.Number(0.05), Window: "#2"}}
	body := send(t, Config{}, m)

	if body["msg_type"] != "interactive" || at(body, "card", "config", "wide_screen_mode") != true {
		t.Fatalf("not a wide card: %v", body)
	}
	title, _ := templates.Default().Title(m)
	if got := at(body, "card", "header", "title", "content"); got != title {
		t.Errorf("title %q, want the template's %q", got, title)
	}
	if at(body, "card", "header", "title", "tag") != "plain_text" {
		t.Errorf("title is not plain_text")
	}
	divs := elements(body, "div")
	if len(divs) != 2 {
		t.Fatalf("%d alert divs, want 2", len(divs))
	}
	text := at(divs[0], "text", "content").(string)
	for _, want := range []string{"**Master m0 answers 7% of requests with 5xx.**", "above 5%", "Value: **0.0712** · threshold 0.05 · window #2", "Since: 2026-12-01 10:00:00 UTC"} {
		if !strings.Contains(text, want) {
			t.Errorf("alert text %q lacks %q", text, want)
		}
	}
	if at(divs[0], "text", "tag") != "lark_md" {
		t.Error("alert text is not lark_md")
	}
	fields := at(divs[0], "fields").([]any)
	if len(fields) != 3 || at(fields[1], "text", "content") != "**master**: m0" || at(fields[1], "is_short") != true {
		t.Errorf("label fields: %v", fields)
	}
	if note := elements(body, "note"); len(note) != 1 || at(note[0], "elements", 0, "content") != "... and 3 more" {
		t.Errorf("note: %v", note)
	}
	actions := elements(body, "action")
	if len(actions) != 1 {
		t.Fatalf("actions: %v", actions)
	}
	buttons := at(actions[0], "actions").([]any)
	if len(buttons) != 2 ||
		at(buttons[0], "text", "content") != "Acknowledge" || at(buttons[0], "url") != m.AckURL ||
		at(buttons[1], "url") != m.Alerts[0].GeneratorURL {
		t.Errorf("buttons: %v", buttons)
	}
}

func TestCardChinese(t *testing.T) {
	m := msg(1, "firing", "warning", "en")
	m.TruncatedAlerts = 2
	body := send(t, Config{Language: "zh"}, m) // the channel overrides the message
	if got := at(body, "card", "header", "title", "content").(string); !strings.HasPrefix(got, "[告警:1] 警告") {
		t.Errorf("title %q is not Chinese", got)
	}
	if got := at(elements(body, "note")[0], "elements", 0, "content"); got != "……另有 2 条" {
		t.Errorf("note %q", got)
	}
	if got := at(elements(body, "action")[0], "actions", 0, "text", "content"); got != "确认" {
		t.Errorf("ack button %q", got)
	}
	if !strings.Contains(at(elements(body, "div")[0], "text", "content").(string), "开始于：") {
		t.Error("alert text is not Chinese")
	}
}

func TestCardColours(t *testing.T) {
	for _, tc := range []struct {
		status, severity, kind, want string
	}{
		{"firing", "critical", "", "red"},
		{"firing", "warning", "", "orange"},
		{"firing", "info", "", "blue"},
		{"resolved", "critical", "", "green"},
		{"firing", "", "", "red"},
		{"firing", "", message.KindTest, "blue"},
	} {
		m := msg(1, tc.status, tc.severity, "en")
		m.Kind = tc.kind
		if got := at(send(t, Config{}, m), "card", "header", "template"); got != tc.want {
			t.Errorf("%s %s %s: colour %v, want %s", tc.status, tc.severity, tc.kind, got, tc.want)
		}
	}
}

// Alerts from different places link each their own source; the action
// keeps only the ack button.
func TestCardSources(t *testing.T) {
	m := msg(2, "firing", "warning", "en")
	m.Alerts[1].GeneratorURL = "http://other:9095/graph"
	m.AckURL = ""
	body := send(t, Config{}, m)
	if !strings.Contains(at(elements(body, "div")[1], "text", "content").(string), "[Source](http://other:9095/graph)") {
		t.Error("the second alert does not link its source")
	}
	if a := elements(body, "action"); len(a) != 0 {
		t.Errorf("no ack URL and no common source, yet buttons: %v", a)
	}
}

func TestCardResolvedFirst(t *testing.T) {
	m := msg(2, "firing", "warning", "en")
	m.Alerts[0].Status = "resolved"
	m.Alerts[0].EndsAt = start.Add(90 * time.Minute)
	divs := elements(send(t, Config{}, m), "div")
	if !strings.HasPrefix(at(divs[0], "text", "content").(string), "🔥") {
		t.Error("firing alerts are not listed first")
	}
	if got := at(divs[1], "text", "content").(string); !strings.Contains(got, "✅") || !strings.Contains(got, "Resolved: 2026-12-01 11:30:00 UTC") {
		t.Errorf("resolved alert: %q", got)
	}
}

func TestTestNotice(t *testing.T) {
	m := msg(0, "firing", "", "en")
	m.Kind = message.KindTest
	body := send(t, Config{}, m)
	if got := at(elements(body, "div")[0], "text", "content").(string); !strings.Contains(got, "test notification") {
		t.Errorf("test notice body %q", got)
	}
}

func TestText(t *testing.T) {
	m := msg(2, "firing", "warning", "en")
	m.TruncatedAlerts = 1
	body := send(t, Config{MessageType: MessageTypeText}, m)
	if body["msg_type"] != "text" || body["card"] != nil {
		t.Fatalf("not a text message: %v", body)
	}
	tm := templates.Default()
	title, _ := tm.Title(m)
	text, _ := tm.Text(m)
	if got := at(body, "content", "text"); got != title+"\n"+text {
		t.Errorf("text:\n%v\nwant the title and the text template:\n%s\n%s", got, title, text)
	}
}

func TestMentions(t *testing.T) {
	cfg := Config{Mentions: []string{"ou_a1", "ou_b2"}, MentionAll: true}
	card := send(t, cfg, msg(1, "firing", "critical", "en"))
	if got := at(card, "card", "elements", 0); at(got, "tag") != "markdown" ||
		at(got, "content") != "<at id=ou_a1></at> <at id=ou_b2></at> <at id=all></at>" {
		t.Errorf("card mentions: %v", got)
	}
	cfg.MessageType = MessageTypeText
	text := at(send(t, cfg, msg(1, "firing", "critical", "en")), "content", "text").(string)
	if !strings.HasPrefix(text, `<at user_id="ou_a1"></at> <at user_id="ou_b2"></at> <at user_id="all"></at>`+"\n") {
		t.Errorf("text mentions: %q", text)
	}
	if text := at(send(t, cfg, msg(1, "resolved", "critical", "en")), "content", "text").(string); strings.Contains(text, "<at") {
		t.Errorf("a recovery mentions: %q", text)
	}
}

// Alert data cannot mention anyone: a scraped label value could otherwise
// page the whole group.
func TestAlertDataCannotMention(t *testing.T) {
	m := msg(1, "firing", "critical", "en")
	m.Alerts[0].Annotations["summary"] = `hi <at id=all></at> <AT user_id="all"></AT>`
	m.Alerts[0].Labels["tenant_id"] = "<at id=all></at>"
	for _, typ := range []string{MessageTypeCard, MessageTypeText} {
		s := newStandIn(t, "k")
		if _, err := notifier(t, s, Config{MessageType: typ}, newClock()).Notify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
		raw := strings.ToLower(string(s.received()[0]))
		if strings.Contains(raw, "<at") {
			t.Errorf("%s: alert data mentions: %s", typ, raw)
		}
	}
}
