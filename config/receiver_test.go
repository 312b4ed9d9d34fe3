package config

import (
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// amRoute is a route tree as it appears in a real alertmanager.yml, indented
// to be pasted under gatewarden's receiver section.
const amRoute = `  route:
    receiver: default
    group_by: [alertname, master]
    routes:
      - matchers: ['severity="critical"']
        receiver: oncall
        group_wait: 10s
        continue: true
      - match:
          team: billing
        match_re:
          model: 'gpt-4.*|claude-.*'
        receiver: billing
        group_by: ['...']
        routes:
          - matchers: ['env!~"dev|test"', 'code=~"5.."']
            receiver: oncall
            repeat_interval: 1h
            mute_time_intervals: [nights]
      - matchers: ['"service.name"="gateway"']
        receiver: webhook
        cooldown: 0s
        active_time_intervals: [office]
  time_intervals:
    - name: nights
      time_intervals:
        - times: [{start_time: '00:00', end_time: '07:00'}]
          location: Asia/Shanghai
    - name: office
      time_intervals:
        - weekdays: ['monday:friday']
          months: [january:june]
  inhibit_rules:
    - source_matchers: ['severity="critical"']
      target_matchers: ['severity="warning"']
      equal: [alertname, master]
`

func realisticReceiver(dir string) string {
	return `receiver:
  templates: [templates/*.tmpl]
  external_url: https://gatewarden.example.com
  auth:
    bearer_token_file: ingest.token
  receivers:
    - name: default
      email_configs:
        - to: ops@example.com
          from: gatewarden@example.com
          smarthost: smtp.example.com:587
          auth_username: gatewarden
          auth_password_file: smtp.pw
    - name: oncall
      feishu_configs:
        - url_file: feishu.url
          secret_file: feishu.secret
          mentions: [ou_abc]
    - name: billing
      channels: [billing-feishu]
    - name: webhook
      webhook_configs:
        - url_file: hook.url
          headers: {X-Team: gateway}
` + amRoute
}

func TestReceiverLoads(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "ingest.token", "s3cret-token\n")
	for _, f := range []string{"smtp.pw", "feishu.url", "feishu.secret", "hook.url"} {
		writeFile(t, dir, f, "x\n")
	}
	cfg, err := Load([]byte(realisticReceiver(dir)), filepath.Join(dir, "gatewarden.yml"))
	if err != nil {
		t.Fatal(err)
	}
	rc := cfg.Receiver
	if rc == nil {
		t.Fatal("receiver section not decoded")
	}
	if rc.CooldownOrDefault() != DefaultCooldown || rc.Language != "en" || rc.MaxBodySize != DefaultIngestBodySize {
		t.Errorf("section defaults: cooldown %s, language %q, max_body_size %d", rc.Cooldown, rc.Language, rc.MaxBodySize)
	}
	root := rc.Route
	if *root.GroupWait != Duration(DefaultGroupWait) || *root.GroupInterval != Duration(DefaultGroupInterval) || *root.RepeatInterval != Duration(DefaultRepeatInterval) {
		t.Errorf("root timings: %s %s %s", root.GroupWait, root.GroupInterval, root.RepeatInterval)
	}
	// Children keep what they set and leave the rest to inheritance.
	crit, nested := root.Routes[0], root.Routes[1].Routes[0]
	if time.Duration(*crit.GroupWait) != 10*time.Second || crit.GroupInterval != nil || crit.RepeatInterval != nil {
		t.Errorf("child timings: %v %v %v", crit.GroupWait, crit.GroupInterval, crit.RepeatInterval)
	}
	if time.Duration(*nested.RepeatInterval) != time.Hour || nested.GroupWait != nil {
		t.Errorf("nested timings: %v %v", nested.RepeatInterval, nested.GroupWait)
	}
	if *root.Routes[2].Cooldown != 0 {
		t.Errorf("an explicit cooldown of 0s must be kept, got %v", root.Routes[2].Cooldown)
	}
	// match and match_re become matchers as Alertmanager builds them.
	ms, err := root.Routes[1].LabelMatchers()
	if err != nil || ms.String() != `{model=~"^(?:gpt-4.*|claude-.*)$",team="billing"}` {
		t.Errorf("billing matchers: %v %v", ms, err)
	}
	if ms, err := root.Routes[2].LabelMatchers(); err != nil || ms.String() != `{service.name="gateway"}` {
		t.Errorf("UTF-8 matcher: %v %v", ms, err)
	}
	if src, tgt, err := rc.InhibitRules[0].LabelMatchers(); err != nil || src.String() != `{severity="critical"}` || tgt.String() != `{severity="warning"}` {
		t.Errorf("inhibit matchers: %v %v %v", src, tgt, err)
	}
	ti := rc.Intervals()
	if len(ti) != 2 || ti["nights"][0].Location.String() != "Asia/Shanghai" || ti["office"][0].Weekdays[0].End != 5 || ti["office"][0].Months[0].End != 6 {
		t.Errorf("time intervals: %+v", ti)
	}
	if rc.Templates[0] != filepath.Join(dir, "templates/*.tmpl") || rc.Auth.BearerTokenFile != filepath.Join(dir, "ingest.token") {
		t.Errorf("paths not anchored at the config dir: %q %q", rc.Templates[0], rc.Auth.BearerTokenFile)
	}
	rcv := rc.Receivers
	if rcv[0].EmailConfigs[0].AuthPasswordFile != filepath.Join(dir, "smtp.pw") ||
		rcv[1].FeishuConfigs[0].URLFile != filepath.Join(dir, "feishu.url") || rcv[1].FeishuConfigs[0].SecretFile != filepath.Join(dir, "feishu.secret") ||
		rcv[3].WebhookConfigs[0].URLFile != filepath.Join(dir, "hook.url") {
		t.Errorf("integration *_file paths not anchored: %+v %+v %+v", rcv[0].EmailConfigs[0], rcv[1].FeishuConfigs[0], rcv[3].WebhookConfigs[0])
	}
	if rc.Auth.Token() != "s3cret-token" {
		t.Errorf("token = %q", rc.Auth.Token())
	}
}

func TestReceiverAbsent(t *testing.T) {
	for _, yml := range []string{"global: {}\n", "receiver:\n"} {
		cfg, err := Load([]byte(yml), "f.yml")
		if err != nil || cfg.Receiver != nil {
			t.Errorf("%q: receiver %+v, err %v; want none", yml, cfg.Receiver, err)
		}
	}
}

func TestIngestAuth(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "token", "tok\n")
	writeFile(t, dir, "pw", "pa55")
	load := func(auth string) *IngestAuth {
		t.Helper()
		cfg, err := Load([]byte("receiver:\n  route: {receiver: r}\n  receivers: [{name: r}]\n  auth: "+auth+"\n"), filepath.Join(dir, "gw.yml"))
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Receiver.Auth
	}
	bearer, basic := load("{bearer_token_file: token}"), load("{basic_auth: {username: am, password_file: pw}}")
	for _, tc := range []struct {
		name  string
		auth  *IngestAuth
		set   func(h map[string][]string)
		allow bool
	}{
		{"bearer", bearer, func(h map[string][]string) { h["Authorization"] = []string{"Bearer tok"} }, true},
		{"bearer scheme in any case", bearer, func(h map[string][]string) { h["Authorization"] = []string{"bearer tok"} }, true},
		{"wrong token", bearer, func(h map[string][]string) { h["Authorization"] = []string{"Bearer to"} }, false},
		{"no header", bearer, func(map[string][]string) {}, false},
		{"basic sent to bearer", bearer, func(h map[string][]string) { h["Authorization"] = []string{"Basic dG9rOg=="} }, false},
		{"basic", basic, func(h map[string][]string) { h["Authorization"] = []string{"Basic YW06cGE1NQ=="} }, true}, // am:pa55
		{"wrong user", basic, func(h map[string][]string) { h["Authorization"] = []string{"Basic eHg6cGE1NQ=="} }, false},
		{"bearer sent to basic", basic, func(h map[string][]string) { h["Authorization"] = []string{"Bearer pa55"} }, false},
		{"no auth section", nil, func(map[string][]string) {}, true},
	} {
		r := httptest.NewRequest("POST", "/api/v2/alerts", nil)
		tc.set(r.Header)
		if got := tc.auth.Allows(r); got != tc.allow {
			t.Errorf("%s: Allows = %v, want %v", tc.name, got, tc.allow)
		}
	}
	if basic.Password() != "pa55" {
		t.Errorf("password = %q", basic.Password())
	}
}

const minimal = "receiver:\n  receivers: [{name: r}]\n  route:\n    receiver: r\n"

func TestReceiverErrors(t *testing.T) {
	dir := t.TempDir()
	empty := writeFile(t, dir, "empty", "\n")
	for _, tc := range []struct {
		name, yml string
		want      []string
	}{
		{"no route", "receiver:\n  receivers: [{name: r}]\n", []string{"f.yml:2:3: route is required"}},
		{"root without receiver", "receiver:\n  receivers: [{name: r}]\n  route: {group_by: [a]}\n", []string{"f.yml:3:10: root route must specify a default receiver"}},
		{"root with matchers", minimal + "    matchers: [a=b]\n", []string{"f.yml:5:15: root route must not have any matchers"}},
		{"root with continue", minimal + "    continue: true\n", []string{"f.yml:5:15: cannot have continue in root route"}},
		{"undefined receiver", minimal + "    routes:\n      - receiver: nobody\n", []string{`f.yml:6:19: undefined receiver "nobody" used in route`}},
		{"duplicate receiver", "receiver:\n  receivers: [{name: r}, {name: r}]\n  route: {receiver: r}\n", []string{`f.yml:2:33: receiver name "r" is not unique`}},
		{"unnamed receiver", "receiver:\n  receivers: [{name: r}, {}]\n  route: {receiver: r}\n", []string{"f.yml:2:26: missing name in receiver"}},
		{"bad matcher", minimal + "    routes:\n      - matchers: [a=b, 'c=~\"(\"']\n", []string{"f.yml:6:25: invalid matcher: error parsing regexp: missing closing )"}},
		{"bad matcher syntax", minimal + "    routes:\n      - matchers: ['a b']\n", []string{"f.yml:6:20: invalid matcher: bad matcher format: a b"}},
		{"bad match name", minimal + "    routes:\n      - match: {service.name: x}\n", []string{`f.yml:6:31: invalid label name "service.name": match takes classic names only`}},
		{"bad match_re", minimal + "    routes:\n      - match_re: {code: '5(('}\n", []string{"f.yml:6:26: invalid regex for code: error parsing regexp"}},
		{"group_by wildcard with labels", minimal + "    group_by: ['...', a]\n", []string{"f.yml:5:15: cannot have wildcard group_by (`...`) and other labels at the same time"}},
		{"group_by duplicate and empty", minimal + "    group_by: [a, a, '']\n", []string{`f.yml:5:19: duplicated label "a" in group_by`, `f.yml:5:22: invalid label name "" in group_by list`}},
		{"zero intervals", minimal + "    routes:\n      - {group_interval: 0s, repeat_interval: 0s}\n", []string{"f.yml:6:26: group_interval must be greater than zero", "f.yml:6:47: repeat_interval must be greater than zero"}},
		{"undefined time interval", minimal + "    routes:\n      - {mute_time_intervals: [x], active_time_intervals: [y]}\n", []string{`f.yml:6:32: undefined time interval "x" used in route`, `f.yml:6:60: undefined time interval "y" used in route`}},
		{"duplicate time interval", minimal + "  time_intervals: [{name: a}, {name: a}]\n", []string{`f.yml:5:38: time interval "a" is not unique`}},
		{"bad inhibit rule", minimal + "  inhibit_rules:\n    - {source_matchers: ['a=~\"(\"'], equal: ['']}\n", []string{"f.yml:6:26: invalid matcher: error parsing regexp", `f.yml:6:45: invalid label name "" in equal list`}},
		{"bad template glob", minimal + "  templates: ['/t/[.tmpl']\n", []string{`f.yml:5:15: invalid template pattern "/t/[.tmpl": syntax error in pattern`}},
		{"bad language", minimal + "  language: fr\n", []string{`f.yml:5:13: language must be en or zh, not "fr"`}},
		{"bad external url", minimal + "  external_url: gatewarden:9000\n", []string{"f.yml:5:17: external_url must be an absolute http or https URL"}},
		{"empty route", minimal + "    routes: [~]\n", []string{"f.yml:5:14: empty route"}},
		{"auth both", minimal + "  auth: {bearer_token_file: " + empty + ", basic_auth: {username: u}}\n", []string{"f.yml:5:" + col(empty, 45) + ": auth: at most one of bearer_token_file and basic_auth"}},
		{"auth none", minimal + "  auth: {}\n", []string{"f.yml:5:9: auth needs bearer_token_file or basic_auth"}},
		{"auth empty token", minimal + "  auth: {bearer_token_file: " + empty + "}\n", []string{"f.yml:5:29: bearer_token_file " + empty + " is empty"}},
		{"auth missing token", minimal + "  auth: {bearer_token_file: /nonexistent/t}\n", []string{"f.yml:5:29: bearer_token_file: open /nonexistent/t: no such file or directory"}},
		{"auth inline password", minimal + "  auth: {basic_auth: {username: u, password: hunter2}}\n", []string{"f.yml:5:46: basic_auth password may not be written in the config: use password_file"}},
		{"auth no username", minimal + "  auth: {basic_auth: {password_file: " + empty + "}}\n", []string{"f.yml:5:22: basic_auth username is required", "f.yml:5:38: password_file " + empty + " is empty"}},
		{"webhook errors", minimal + "  receivers:\n    - name: r\n      webhook_configs:\n        - url: ftp://x\n          headers: {Content-Type: x}\n",
			[]string{"f.yml:7:16: url: scheme must be http or https", "f.yml:8:35: headers: Content-Type is set by gatewarden"}},
		{"email errors", minimal + "  receivers:\n    - name: r\n      email_configs:\n        - {to: a@b.c, from: x, smarthost: h}\n",
			[]string{`f.yml:7:29: from: invalid address "x"`, `f.yml:7:43: smarthost: invalid smarthost "h"`}},
		{"feishu errors", minimal + "  receivers:\n    - name: r\n      feishu_configs:\n        - {url: https://open.feishu.cn/x, mentions: [all], language: fr}\n        - {}\n",
			[]string{"f.yml:7:54: mentions[0]: use mention_all", `f.yml:7:70: language "fr": want en or zh`, "f.yml:8:11: one of url and url_file is required"}},
		// An issue 16 finding: a secret_file that does not exist was
		// accepted and the first send failed.
		{"missing secret files", minimal + "  receivers:\n    - name: r\n      webhook_configs: [{url: 'http://h/x', secret_file: /nonexistent/w}]\n" +
			"      email_configs: [{to: a@b.c, from: f@b.c, smarthost: 'h:25', auth_username: u, auth_password_file: /nonexistent/p}]\n" +
			"      feishu_configs: [{url_file: /nonexistent/u, secret_file: /nonexistent/s}]\n",
			[]string{"f.yml:6:58: secret_file: open /nonexistent/w: no such file or directory",
				"f.yml:7:105: auth_password_file: open /nonexistent/p: no such file or directory",
				"f.yml:8:35: url_file: open /nonexistent/u: no such file or directory",
				"f.yml:8:64: secret_file: open /nonexistent/s: no such file or directory"}},
		{"bad label name validation and limits", minimal + "  label_name_validation: ascii\n  limits: {max_alerts: -1}\n",
			[]string{`f.yml:5:26: label_name_validation must be legacy or utf8, not "ascii"`, "f.yml:6:24: max_alerts must be positive"}},
		{"empty integrations", minimal + "  receivers:\n    - {name: r, webhook_configs: [~], email_configs: [~], feishu_configs: [~], channels: ['']}\n",
			[]string{"f.yml:5:35: empty webhook config", "f.yml:5:55: empty email config", "f.yml:5:76: empty feishu config", "f.yml:5:91: empty channel name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yml := tc.yml
			if strings.Count(yml, "receivers:") > 1 {
				// The case replaces the minimal receiver list.
				yml = strings.Replace(yml, "  receivers: [{name: r}]\n", "", 1)
			}
			_, err := Load([]byte(yml), "f.yml")
			if err == nil {
				t.Fatal("no error")
			}
			expectErrors(t, err, tc.want)
		})
	}
}

// col is the column of what follows a path of unknown length on a line,
// rest being that column for a path of len("/x").
func col(path string, rest int) string { return strconv.Itoa(rest + len(path) - len("/x")) }

func TestTimeIntervalErrorsLocated(t *testing.T) {
	yml := minimal + `  time_intervals:
    - name: a
      time_intervals:
        - weekdays: ['monday', 'funday']
          times: [{start_time: '09:00', end_time: '08:00'}, {start_time: '10:00', end_time: '11:00', tz: x}]
          location: Mars/Olympus
          fortnights: [1]
    - nam: b
  cooldown: soon
`
	_, err := Load([]byte(yml), "f.yml")
	if err == nil {
		t.Fatal("no error")
	}
	// Every problem is reported, each at its value, and decoding goes on
	// to the rest of the file (the bad cooldown).
	expectErrors(t, err, []string{
		"f.yml:8:32: funday is not a valid weekday",
		"f.yml:9:19: start time cannot be equal or greater than end time",
		`f.yml:9:102: unknown field "tz"`,
		"f.yml:10:21: unknown time zone Mars/Olympus",
		`f.yml:11:11: unknown field "fortnights"`,
		`f.yml:12:7: unknown field "nam"`,
		`f.yml:13:13: invalid duration "soon"`,
	})
}

func TestReceiverSecretsNotInErrors(t *testing.T) {
	for _, yml := range []string{
		minimal + "  receivers:\n    - name: r\n      feishu_configs:\n        - {url: 'https://open.feishu.cn/open-apis/bot/v2/hook/hunter2', url_file: f, secret: hunter2, secret_file: g}\n",
		minimal + "  receivers:\n    - name: r\n      feishu_configs:\n        - {url: '://hunter2'}\n",
		minimal + "  receivers:\n    - name: r\n      webhook_configs:\n        - {url: 'ftp://u:hunter2@x/hunter2', headers: {X-Token: \"hunter2\\n\"}}\n",
		minimal + "  auth: {basic_auth: {username: u, password: hunter2, password_file: f}}\n",
		minimal + "  external_url: 'https://u:hunter2@%zz'\n",
	} {
		yml = strings.Replace(yml, "  receivers: [{name: r}]\n", "", 1)
		_, err := Load([]byte(yml), "f.yml")
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error must exist and not contain the secret: %v", err)
		}
	}
}
