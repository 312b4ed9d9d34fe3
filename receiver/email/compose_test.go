package email

import (
	"bytes"
	"context"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatewarden/gatewarden/receiver/templates"
)

type parsedMessage struct {
	header     mail.Header
	text, html string
}

// parseMessage reads a message as a mail client would.
func parseMessage(t *testing.T, data []byte) parsedMessage {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	mt, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/alternative" {
		t.Fatalf("Content-Type %q (%v), want multipart/alternative", m.Header.Get("Content-Type"), err)
	}
	p := parsedMessage{header: m.Header}
	mr := multipart.NewReader(m.Body, params["boundary"])
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// multipart decodes quoted-printable itself.
		b, err := io.ReadAll(part)
		if err != nil {
			t.Fatal(err)
		}
		body := strings.ReplaceAll(string(b), "\r\n", "\n")
		switch ct := part.Header.Get("Content-Type"); ct {
		case "text/plain; charset=UTF-8":
			p.text = body
		case "text/html; charset=UTF-8":
			p.html = body
		default:
			t.Errorf("unexpected part %q", ct)
		}
	}
	return p
}

func TestMessage(t *testing.T) {
	srv := startServer(t, &backend{}, noTLS, false)
	now := time.Date(2026, 12, 1, 18, 4, 5, 0, time.FixedZone("CST", 8*3600))
	n, err := New(plainConfig(srv.addr), nil, WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	m := sample("zh")
	for range 2 {
		if _, err := n.Notify(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	tm := templates.Default()
	title, _ := tm.Title(m)
	text, _ := tm.Text(m)
	html, _ := tm.HTML(m)
	if !strings.Contains(title, "严重") {
		t.Fatalf("sample title %q is not the Chinese one", title)
	}

	var ids []string
	for _, r := range srv.messages() {
		p := parseMessage(t, r.data)
		raw := p.header.Get("Subject")
		if !strings.HasPrefix(raw, "=?utf-8?q?") {
			t.Errorf("Subject %q is not Q-encoded", raw)
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(raw)
		if err != nil || subject != title {
			t.Errorf("Subject decodes to %q (%v), want %q", subject, err, title)
		}
		if date, err := p.header.Date(); err != nil || !date.Equal(now) {
			t.Errorf("Date %v (%v), want %v", date, err, now)
		}
		from, err := p.header.AddressList("From")
		if err != nil || len(from) != 1 || from[0].Address != "gatewarden@example.com" || from[0].Name != "Gatewarden" {
			t.Errorf("From %v (%v)", from, err)
		}
		if to, err := p.header.AddressList("To"); err != nil || len(to) != 2 {
			t.Errorf("To %v (%v), want both recipients", to, err)
		}
		if p.text != text || p.html != html {
			t.Errorf("bodies differ from the templates:\ntext %q\nwant %q\nhtml %q\nwant %q", p.text, text, p.html, html)
		}
		ids = append(ids, p.header.Get("Message-Id"))
	}
	for _, id := range ids {
		if !regexp.MustCompile(`^<[0-9a-z.]+@example\.com>$`).MatchString(id) {
			t.Errorf("Message-Id %q: want <unique@sender's domain>", id)
		}
	}
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Errorf("Message-Ids %q: want two distinct", ids)
	}
}

func TestCustomHeadersAndBodies(t *testing.T) {
	srv := startServer(t, &backend{}, noTLS, false)
	cfg := plainConfig(srv.addr)
	cfg.From = "网关告警 <gatewarden@example.com>"
	cfg.Headers = map[string]string{
		"subject":   "{{ .CommonLabels.alertname }} on {{ .CommonLabels.master }}",
		"X-Tenant":  "{{ .CommonLabels.master }}\r\nBcc: victim@example.org",
		"Reply-To":  "Ops <ops@example.com>",
		"X-Comment": "",
		"Cc":        "{{ .CommonLabels.team }}",
	}
	cfg.Text = "text for {{ .Receiver }}"
	cfg.HTML = `<p>{{ .CommonLabels.alertname }} {{ "<b>" }}</p>`
	got := mustDeliver(t, srv, cfg)
	p := parseMessage(t, got.data)
	if s := p.header.Get("Subject"); s != "GatewayErrorRate on m1" {
		t.Errorf("Subject %q, want the header template's", s)
	}
	if s := p.header.Get("X-Tenant"); s != "m1 Bcc: victim@example.org" || p.header.Get("Bcc") != "" {
		t.Errorf("X-Tenant %q, Bcc %q: a line break in a value must not start a header", s, p.header.Get("Bcc"))
	}
	if from, err := p.header.AddressList("From"); err != nil || from[0].Name != "网关告警" {
		t.Errorf("From %v (%v): want the Chinese display name", from, err)
	}
	if rt, err := p.header.AddressList("Reply-To"); err != nil || rt[0].Address != "ops@example.com" {
		t.Errorf("Reply-To %v (%v)", rt, err)
	}
	if _, ok := p.header["X-Comment"]; ok || p.header.Get("Cc") != "" {
		t.Errorf("headers rendering empty were sent: %v", p.header)
	}
	if p.text != "text for ops" || p.html != "<p>GatewayErrorRate &lt;b&gt;</p>" {
		t.Errorf("text %q, html %q", p.text, p.html)
	}
	if got.from != "gatewarden@example.com" {
		t.Errorf("envelope from %q", got.from)
	}
}

func TestTemplateErrorIsPermanent(t *testing.T) {
	srv := startServer(t, &backend{}, noTLS, false)
	cfg := plainConfig(srv.addr)
	cfg.Text = `{{ template "no.such.template" . }}`
	retry, err := notify(t, cfg)
	if err == nil || retry {
		t.Fatalf("retry %v, err %v: want a permanent template error", retry, err)
	}
	if len(srv.messages()) != 0 {
		t.Error("a message went out without its text")
	}
}
