package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/gatewarden/gatewarden/receiver/email"
	"github.com/gatewarden/gatewarden/receiver/feishu"
	"github.com/gatewarden/gatewarden/receiver/message"
	"github.com/gatewarden/gatewarden/receiver/templates"
	"github.com/gatewarden/gatewarden/receiver/webhook"
	"github.com/gatewarden/gatewarden/store"
)

// Integrations builds delivery integrations from a channel's type and JSON
// config, the form the store and the admin API keep them in.
type Integrations struct {
	Templates *templates.Templates
	Client    *http.Client // for the HTTP integrations; nil uses each one's default
	// ExternalURL is gatewarden's own URL, for links in test messages.
	ExternalURL string

	mu         sync.Mutex
	configured map[string]message.Notifier // by channel name, from the config file
	// built are the integrations of channels made through the admin API,
	// by type and config: the worker asks at every attempt, and a secret
	// file is read once per build, not per message. A reload empties it
	// (templates and files may have changed).
	built map[string]message.Notifier
}

// setConfigured swaps the integrations built from the config file; what
// is sent from now on, queued before or not, goes out as configured now.
func (in *Integrations) setConfigured(m map[string]message.Notifier, tmpl *templates.Templates) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.configured, in.Templates, in.built = m, tmpl, nil
}

// configuredNotifier resolves a channel row that stands for a configured
// integration.
func (in *Integrations) configuredNotifier(cfg json.RawMessage) (message.Notifier, bool, error) {
	var ref configRef
	if json.Unmarshal(cfg, &ref) != nil || ref.ConfigRef == "" {
		return nil, false, nil
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	n, ok := in.configured[ref.ConfigRef]
	if !ok {
		return nil, true, fmt.Errorf("channel %s is no longer in the configuration", ref.ConfigRef)
	}
	return n, true, nil
}

// validator is what every integration's config offers.
type validator interface{ Validate() error }

// decodeConfig reads cfg strictly into the config type of typ.
func decodeConfig(typ string, cfg json.RawMessage) (validator, error) {
	var v validator
	switch typ {
	case "webhook":
		v = &webhook.Config{}
	case "email":
		v = &email.Config{}
	case "feishu":
		v = &feishu.Config{}
	default:
		return nil, fmt.Errorf("unknown channel type %q", typ)
	}
	d := json.NewDecoder(bytes.NewReader(cfg))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return nil, err
	}
	return v, nil
}

// Validate checks a channel config as its integration would read it.
func (in *Integrations) Validate(typ string, cfg json.RawMessage) error {
	v, err := decodeConfig(typ, cfg)
	if err != nil {
		return err
	}
	return v.Validate()
}

// Notifier returns the integration of a channel, built on first use. A
// failed build is not kept, so a url_file that appears later is picked up.
func (in *Integrations) Notifier(typ string, cfg json.RawMessage) (message.Notifier, error) {
	if n, ok, err := in.configuredNotifier(cfg); ok {
		return n, err
	}
	key := typ + "\x00" + string(cfg)
	in.mu.Lock()
	n, ok := in.built[key]
	in.mu.Unlock()
	if ok {
		return n, nil
	}
	n, err := in.build(typ, cfg)
	if err != nil {
		return nil, err
	}
	in.mu.Lock()
	if in.built == nil {
		in.built = map[string]message.Notifier{}
	}
	in.built[key] = n
	in.mu.Unlock()
	return n, nil
}

func (in *Integrations) build(typ string, cfg json.RawMessage) (message.Notifier, error) {
	v, err := decodeConfig(typ, cfg)
	if err != nil {
		return nil, err
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	in.mu.Lock()
	tmpl := in.Templates
	in.mu.Unlock()
	if tmpl == nil {
		tmpl = templates.Default()
	}
	switch c := v.(type) {
	case *webhook.Config:
		return webhook.New(c, tmpl, in.Client)
	case *email.Config:
		return email.New(c, tmpl)
	case *feishu.Config:
		return feishu.New(c, tmpl, in.Client)
	}
	return nil, fmt.Errorf("unknown channel type %q", typ)
}

// Test sends a test message through a stored channel now.
func (in *Integrations) Test(ctx context.Context, c store.Channel) error {
	n, err := in.Notifier(c.Type, c.Config)
	if err != nil {
		return err
	}
	now := time.Now()
	m := &message.Message{
		Data: &template.Data{
			Receiver: c.Name, Status: "firing", ExternalURL: in.ExternalURL,
			Alerts: template.Alerts{{
				Status:      "firing",
				Labels:      template.KV{"alertname": "GatewardenTest", "severity": "info", "channel": c.Name},
				Annotations: template.KV{"summary": "Test notification from gatewarden for channel " + c.Name + "."},
				StartsAt:    now,
				Fingerprint: "test",
			}},
			GroupLabels:       template.KV{"alertname": "GatewardenTest"},
			CommonLabels:      template.KV{"alertname": "GatewardenTest", "severity": "info", "channel": c.Name},
			CommonAnnotations: template.KV{},
		},
		Version: message.Version, GroupKey: "test/" + c.Name, Kind: message.KindTest, Severity: "info",
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	_, err = n.Notify(ctx, m)
	return err
}
