package templates

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/gatewarden/gatewarden/receiver/message"
)

func sample(lang, status string) *message.Message {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	a := template.Alert{
		Status:      status,
		Labels:      template.KV{"alertname": "GatewayErrorRate", "master": "m1", "severity": "warning"},
		Annotations: template.KV{"summary": "Master m1 answers 7% of requests with 5xx."},
		StartsAt:    start, GeneratorURL: "http://gw:9095/graph", Fingerprint: "fp1",
	}
	if status == "resolved" {
		a.EndsAt = start.Add(time.Hour)
	}
	return &message.Message{
		Data: &template.Data{Receiver: "ops", Status: status, Alerts: template.Alerts{a},
			CommonLabels: template.KV{"alertname": "GatewayErrorRate", "master": "m1"}},
		Version: message.Version, Severity: "warning", Language: lang, AckURL: "http://gw:9095/alerts/7",
		TruncatedAlerts: 2,
		Details: map[string]message.Detail{"fp1": {Metric: "gateway_requests_total", Value: message.Number(0.0712),
			Threshold: message.Number(0.05), Window: "#2", Level: "warning"}},
	}
}

func TestDefaults(t *testing.T) {
	tm := Default()
	for _, tc := range []struct {
		lang, status string
		title, text  []string
	}{
		{"en", "firing", []string{"[FIRING:1] WARNING GatewayErrorRate master=m1"}, []string{"Firing (1):", "answers 7%", "value: 0.0712, threshold 0.05, window #2", "and 2 more", "Acknowledge: http://gw:9095/alerts/7"}},
		{"en", "resolved", []string{"[RESOLVED] WARNING GatewayErrorRate"}, []string{"Resolved (1):", "resolved 2026-12-01 11:00:00 UTC"}},
		{"zh", "firing", []string{"[告警:1] 警告 GatewayErrorRate master=m1"}, []string{"告警中（1）", "当前值：0.0712，阈值 0.05，窗口 #2", "另有 2 条", "确认告警"}},
		{"zh", "resolved", []string{"[已恢复] 警告"}, []string{"已恢复（1）", "恢复于"}},
	} {
		m := sample(tc.lang, tc.status)
		title, err := tm.Title(m)
		if err != nil {
			t.Fatal(err)
		}
		text, err := tm.Text(m)
		if err != nil {
			t.Fatal(err)
		}
		html, err := tm.HTML(m)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(title, "\n") {
			t.Errorf("%s/%s: title spans lines: %q", tc.lang, tc.status, title)
		}
		for _, w := range tc.title {
			if !strings.Contains(title, w) {
				t.Errorf("%s/%s: title %q lacks %q", tc.lang, tc.status, title, w)
			}
		}
		for _, w := range tc.text {
			if !strings.Contains(text, w) {
				t.Errorf("%s/%s: text lacks %q:\n%s", tc.lang, tc.status, w, text)
			}
		}
		if !strings.Contains(html, "<li><b>Master m1 answers 7% of requests with 5xx.</b>") || !strings.Contains(html, `<span class="value">0.0712</span> / 0.05 (#2)`) {
			t.Errorf("%s/%s: html:\n%s", tc.lang, tc.status, html)
		}
	}
}

func TestHTMLEscapes(t *testing.T) {
	m := sample("en", "firing")
	m.Alerts[0].Annotations["summary"] = "<script>x</script>"
	html, err := Default().HTML(m)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(html, "<script>") {
		t.Fatalf("summary not escaped:\n%s", html)
	}
}

func TestTestKind(t *testing.T) {
	m := sample("en", "firing")
	m.Kind = message.KindTest
	title, _ := Default().Title(m)
	if !strings.HasPrefix(title, "[TEST]") {
		t.Fatalf("title %q", title)
	}
}

func TestUserFileRedefinesDefault(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "custom.tmpl")
	if err := os.WriteFile(f, []byte(`{{ define "gatewarden.title.en" }}custom {{ .CommonLabels.master }}{{ end }}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tm, err := New(filepath.Join(dir, "*.tmpl"))
	if err != nil {
		t.Fatal(err)
	}
	title, err := tm.Title(sample("en", "firing"))
	if err != nil || title != "custom m1" {
		t.Fatalf("title %q, %v", title, err)
	}
	if s, err := tm.ExecuteText(`{{ .Receiver | toUpper }}`, sample("en", "firing")); err != nil || s != "OPS" {
		t.Fatalf("ExecuteText %q, %v", s, err)
	}
}

func TestBadUserFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "bad.tmpl")
	os.WriteFile(f, []byte(`{{ define "x" }}{{ .Foo `), 0o644)
	if _, err := New(f); err == nil || !strings.Contains(err.Error(), "bad.tmpl") {
		t.Fatalf("err %v", err)
	}
}
