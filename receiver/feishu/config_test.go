package feishu

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const hook = "https://open.feishu.cn/open-apis/bot/v2/hook/5e3d587e-d78e-4a07-bd07-265f269f86fd"

func TestValidate(t *testing.T) {
	ok := func() Config { return Config{URL: hook, Secret: "s"} }
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" means valid
	}{
		{"minimal", func(*Config) {}, ""},
		{"files", func(c *Config) { c.URL, c.URLFile, c.Secret, c.SecretFile = "", "/run/url", "", "/run/secret" }, ""},
		{"everything", func(c *Config) {
			c.MessageType, c.Mentions, c.MentionAll, c.Language, c.Timeout = "text", []string{"ou_1a-B"}, true, "zh", 1
		}, ""},
		{"no url", func(c *Config) { c.URL = "" }, "one of url and url_file is required"},
		{"both urls", func(c *Config) { c.URLFile = "/run/url" }, "mutually exclusive"},
		{"both secrets", func(c *Config) { c.SecretFile = "/run/secret" }, "secret and secret_file are mutually exclusive"},
		{"not http", func(c *Config) { c.URL = "ftp://open.feishu.cn/hook/tok-123" }, "want an absolute http(s) URL"},
		{"relative", func(c *Config) { c.URL = "open.feishu.cn/hook/tok-123" }, "want an absolute http(s) URL"},
		{"unparsable", func(c *Config) { c.URL = "https://open.feishu.cn/%zz/tok-123" }, "want an absolute http(s) URL"},
		{"redacted url", func(c *Config) { c.URL = "<secret>" }, "placeholder"},
		{"redacted secret", func(c *Config) { c.Secret = "<secret>" }, "placeholder"},
		{"message type", func(c *Config) { c.MessageType = "post" }, `message_type "post"`},
		{"mention all as id", func(c *Config) { c.Mentions = []string{"all"} }, "mention_all"},
		{"mention markup", func(c *Config) { c.Mentions = []string{`ou_1"></at><at id=all`} }, "mentions[0]"},
		{"empty mention", func(c *Config) { c.Mentions = []string{""} }, "mentions[0]"},
		{"too many mentions", func(c *Config) { c.Mentions = make([]string, 51); fill(c.Mentions) }, "at most 50"},
		{"language", func(c *Config) { c.Language = "fr" }, `language "fr"`},
		{"timeout", func(c *Config) { c.Timeout = -1 }, "negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "tok-123") {
				t.Errorf("error quotes the URL: %v", err)
			}
		})
	}
}

func fill(ids []string) {
	for i := range ids {
		ids[i] = "ou_x"
	}
}

func TestValidateReportsAll(t *testing.T) {
	c := Config{MessageType: "post", Language: "fr"}
	err := c.Validate()
	for _, want := range []string{"url", "message_type", "language"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %v, lacks %s", err, want)
		}
	}
}

func TestNewRejectsInvalid(t *testing.T) {
	if _, err := New(nil, nil, nil); err == nil {
		t.Error("New(nil) succeeded")
	}
	if _, err := New(&Config{}, nil, nil); err == nil {
		t.Error("New with no URL succeeded")
	}
}

// One struct reads gatewarden.yml and a channel's JSON alike, and writes
// neither secret back.
func TestConfigYAMLAndJSON(t *testing.T) {
	yml := `
url: ` + hook + `
secret: sign-me
message_type: text
mentions: [ou_a, ou_b]
mention_all: true
language: zh
timeout: 5s
`
	js := `{"url":"` + hook + `","secret":"sign-me","message_type":"text","mentions":["ou_a","ou_b"],
		"mention_all":true,"language":"zh","timeout":"5s"}`
	var fromYAML, fromJSON Config
	dec := yaml.NewDecoder(strings.NewReader(yml))
	dec.KnownFields(true)
	if err := dec.Decode(&fromYAML); err != nil {
		t.Fatal(err)
	}
	jdec := json.NewDecoder(strings.NewReader(js))
	jdec.DisallowUnknownFields()
	if err := jdec.Decode(&fromJSON); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]Config{"yaml": fromYAML, "json": fromJSON} {
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if string(c.URL) != hook || c.Secret != "sign-me" || c.timeout() != 5*time.Second ||
			c.messageType() != "text" || len(c.Mentions) != 2 || !c.MentionAll || c.Language != "zh" {
			t.Errorf("%s: decoded %+v", name, c)
		}
	}

	j, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	y, err := yaml.Marshal(fromYAML)
	if err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string][]byte{"json": j, "yaml": y} {
		if bytes.Contains(out, []byte("5e3d587e")) || bytes.Contains(out, []byte("sign-me")) {
			t.Errorf("%s leaks a secret: %s", name, out)
		}
		var back map[string]any
		if err := yaml.Unmarshal(out, &back); err != nil { // YAML reads JSON too
			t.Fatal(err)
		}
		if back["url"] != "<secret>" || back["secret"] != "<secret>" || back["timeout"] != "5s" {
			t.Errorf("%s: %s", name, out)
		}
	}
}

func TestDefaults(t *testing.T) {
	var c Config
	if c.timeout() != DefaultTimeout || c.messageType() != MessageTypeCard {
		t.Errorf("defaults: %s %s", c.timeout(), c.messageType())
	}
}
