package feishu

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	commoncfg "github.com/prometheus/common/config"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// Message types a channel can send.
const (
	MessageTypeCard = "card"
	MessageTypeText = "text"
)

// DefaultTimeout bounds one HTTP request to Feishu when timeout is unset.
const DefaultTimeout = 10 * time.Second

// maxMentions keeps the mention line small against the 20 KB body limit.
const maxMentions = 50

// redacted is what a Secret marshals to. A config that went through the API
// and back carries it instead of the value; sending with it can only fail.
const redacted = "<secret>"

// Config is one Feishu custom bot. The same struct is read from
// gatewarden.yml and from a channel's JSON in the store, hence both tags.
// Zero values mean the defaults: a card, the message's language, a 10 s
// timeout.
type Config struct {
	// URL is the bot's webhook. Its path holds the bot's token, so it is a
	// secret: it is never logged, marshalled or put in an error.
	URL     commoncfg.Secret `yaml:"url,omitempty" json:"url,omitempty"`
	URLFile string           `yaml:"url_file,omitempty" json:"url_file,omitempty"`
	// Secret is the bot's signing secret ("签名校验"). Leave it empty only
	// for a bot without signature verification.
	Secret     commoncfg.Secret `yaml:"secret,omitempty" json:"secret,omitempty"`
	SecretFile string           `yaml:"secret_file,omitempty" json:"secret_file,omitempty"`

	MessageType string   `yaml:"message_type,omitempty" json:"message_type,omitempty"`
	Mentions    []string `yaml:"mentions,omitempty" json:"mentions,omitempty"`
	MentionAll  bool     `yaml:"mention_all,omitempty" json:"mention_all,omitempty"`
	// Language overrides the message's language ("en" or "zh").
	Language string            `yaml:"language,omitempty" json:"language,omitempty"`
	Timeout  yamlfile.Duration `yaml:"timeout,omitempty" json:"timeout,omitempty"`
}

// openID is deliberately narrow: a mention is spliced into Feishu's markup,
// so a quote or an angle bracket must not get through.
var openID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// Validate reports every problem at once. It does not read the *_file
// files: they are read at each send, so a rotated secret needs no reload.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	switch {
	case c.URL != "" && c.URLFile != "":
		add("url and url_file are mutually exclusive")
	case c.URL == "" && c.URLFile == "":
		add("one of url and url_file is required")
	case c.URL == redacted:
		add("url is the placeholder %q, not the webhook URL", redacted)
	case c.URL != "":
		if _, err := parseWebhook(string(c.URL)); err != nil {
			errs = append(errs, err)
		}
	}
	switch {
	case c.Secret != "" && c.SecretFile != "":
		add("secret and secret_file are mutually exclusive")
	case c.Secret == redacted:
		add("secret is the placeholder %q, not the signing secret", redacted)
	}
	switch c.MessageType {
	case "", MessageTypeCard, MessageTypeText:
	default:
		add("message_type %q: want %q or %q", c.MessageType, MessageTypeCard, MessageTypeText)
	}
	if len(c.Mentions) > maxMentions {
		add("mentions: at most %d, got %d", maxMentions, len(c.Mentions))
	}
	for i, id := range c.Mentions {
		switch {
		case id == "all":
			add("mentions[%d]: use mention_all: true to mention everyone", i)
		case !openID.MatchString(id):
			add("mentions[%d] %q: want an open_id such as ou_xxx (letters, digits, _ and -)", i, id)
		}
	}
	switch c.Language {
	case "", "en", "zh":
	default:
		add("language %q: want en or zh", c.Language)
	}
	if c.Timeout < 0 {
		add("timeout must not be negative")
	}
	return errors.Join(errs...)
}

func (c *Config) messageType() string {
	if c.MessageType == "" {
		return MessageTypeCard
	}
	return c.MessageType
}

func (c *Config) timeout() time.Duration {
	if c.Timeout == 0 {
		return DefaultTimeout
	}
	return time.Duration(c.Timeout)
}

// webhook returns the bot URL, reading url_file now.
func (c *Config) webhook() (*url.URL, error) {
	raw, err := readSecret(c.URL, c.URLFile, "url_file")
	if err != nil {
		return nil, err
	}
	return parseWebhook(raw)
}

// secret returns the signing secret, reading secret_file now; empty means
// the bot does not verify signatures.
func (c *Config) secret() (string, error) {
	return readSecret(c.Secret, c.SecretFile, "secret_file")
}

// readSecret returns the inline value, or the file's content when a file
// is named.
func readSecret(inline commoncfg.Secret, file, key string) (string, error) {
	if file == "" {
		return string(inline), nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		// The path error names the file, never its content.
		return "", fmt.Errorf("%s: %w", key, err)
	}
	return strings.TrimSpace(string(b)), nil
}

// parseWebhook checks a bot URL without ever quoting it: url.Parse's own
// error would include the token.
func parseWebhook(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, errors.New("url: want an absolute http(s) URL such as https://open.feishu.cn/open-apis/bot/v2/hook/<token>")
	}
	return u, nil
}
