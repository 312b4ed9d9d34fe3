package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/gatewarden/gatewarden/receiver/webhook"
	"github.com/gatewarden/gatewarden/store"
)

// ChannelTypes are the delivery integrations a channel can use.
var ChannelTypes = []string{"webhook", "email", "feishu"}

// Redacted stands for a secret in a response; sent back unchanged in an
// update it keeps the stored secret.
const Redacted = webhook.Redacted

// secretKey reports whether a config key holds a secret. A Feishu bot's
// URL carries its token, and a webhook's headers carry credentials, so
// they are secrets too.
func secretKey(typ, parent, key string) bool {
	k := strings.ToLower(key)
	if typ == "webhook" && parent == "headers" {
		return true
	}
	for _, s := range []string{"secret", "password", "token", "credentials", "authorization"} {
		if strings.Contains(k, s) && !strings.HasSuffix(k, "_file") {
			return true
		}
	}
	return typ == "feishu" && parent == "" && k == "url"
}

// redact replaces every secret of a channel config, at any depth, with
// Redacted, and a webhook's URL with its origin unless it is marked
// public.
func redact(typ string, cfg json.RawMessage) json.RawMessage {
	var m map[string]any
	if json.Unmarshal(cfg, &m) != nil {
		return json.RawMessage(`{}`)
	}
	walkSecrets(typ, "", m, func(parent map[string]any, key string) { parent[key] = Redacted })
	if u, ok := webhookURL(typ, m); ok {
		m["url"] = webhook.RedactURL(u)
	}
	b, _ := json.Marshal(m)
	return b
}

// webhookURL is a webhook channel's URL unless it is marked public.
func webhookURL(typ string, m map[string]any) (string, bool) {
	u, ok := m["url"].(string)
	public, _ := m["url_public"].(bool)
	return u, ok && typ == "webhook" && u != "" && !public
}

// walkSecrets calls fn for every non-empty secret value under m, whose key
// in its parent is name.
func walkSecrets(typ, name string, m map[string]any, fn func(parent map[string]any, key string)) {
	for k, v := range m {
		switch x := v.(type) {
		case map[string]any:
			walkSecrets(typ, k, x, fn)
		case string:
			if x != "" && secretKey(typ, name, k) {
				fn(m, k)
			}
		}
	}
}

// keepSecrets puts the stored secret back wherever an update sent
// Redacted, so a client can round-trip a GET without knowing the secrets.
func keepSecrets(typ string, update, stored json.RawMessage) (json.RawMessage, error) {
	var u, s map[string]any
	if err := json.Unmarshal(update, &u); err != nil {
		return nil, badRequest("config must be a JSON object: %v", err)
	}
	_ = json.Unmarshal(stored, &s)
	if stored, ok := webhookURL(typ, s); ok && u["url"] == webhook.RedactURL(stored) {
		u["url"] = stored // the redacted URL sent back: unchanged
	}
	var restore func(u, s map[string]any)
	restore = func(u, s map[string]any) {
		for k, v := range u {
			switch x := v.(type) {
			case map[string]any:
				sub, _ := s[k].(map[string]any)
				restore(x, sub)
			case string:
				if x == Redacted {
					u[k] = s[k]
				}
			}
		}
	}
	restore(u, s)
	return json.Marshal(u)
}

// channelJSON is ez-api's alert_channels row; config comes back redacted.
type channelJSON struct {
	ID        int64           `json:"id"`
	Name      string          `json:"name"`
	Type      string          `json:"type"`
	Config    json.RawMessage `json:"config"`
	Enabled   bool            `json:"enabled"`
	CreatedAt *int64          `json:"created_at,omitempty"`
	UpdatedAt *int64          `json:"updated_at,omitempty"`
}

func toChannelJSON(c store.Channel) channelJSON {
	return channelJSON{ID: c.ID, Name: c.Name, Type: c.Type, Config: redact(c.Type, c.Config), Enabled: c.Enabled,
		CreatedAt: unix(c.CreatedAt), UpdatedAt: unix(c.UpdatedAt)}
}

type channelBody struct {
	Name    string          `json:"name"`
	Type    string          `json:"type"`
	Config  json.RawMessage `json:"config"`
	Enabled *bool           `json:"enabled"`
}

func (b *channelBody) validate(a *API) error {
	if strings.TrimSpace(b.Name) == "" {
		return badRequest("name is required")
	}
	if !slices.Contains(ChannelTypes, b.Type) {
		return badRequest("unknown channel type %q: use one of %s", b.Type, strings.Join(ChannelTypes, ", "))
	}
	if len(b.Config) == 0 {
		b.Config = json.RawMessage(`{}`)
	}
	var m map[string]any
	if err := json.Unmarshal(b.Config, &m); err != nil || m == nil {
		return badRequest("config must be a JSON object")
	}
	if a.o.Channels != nil {
		if err := a.o.Channels.Validate(b.Type, b.Config); err != nil {
			return badRequest("invalid %s config: %v", b.Type, err)
		}
	}
	return nil
}

func (b *channelBody) channel(id int64) store.Channel {
	enabled := b.Enabled == nil || *b.Enabled
	return store.Channel{ID: id, Name: strings.TrimSpace(b.Name), Type: b.Type, Config: b.Config, Enabled: enabled}
}

func (a *API) listChannels(w http.ResponseWriter, r *http.Request) error {
	list, err := a.o.Store.ListChannels(r.Context())
	if err != nil {
		return err
	}
	items := make([]channelJSON, 0, len(list))
	for _, c := range list {
		items = append(items, toChannelJSON(c))
	}
	return writeJSON(w, http.StatusOK, map[string]any{"items": items, "total": len(items)})
}

func (a *API) createChannel(w http.ResponseWriter, r *http.Request) error {
	var b channelBody
	if err := decode(r, &b); err != nil {
		return err
	}
	if err := b.validate(a); err != nil {
		return err
	}
	c, err := a.o.Store.CreateChannel(r.Context(), b.channel(0))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, toChannelJSON(c))
}

func (a *API) getChannel(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := a.o.Store.GetChannel(r.Context(), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toChannelJSON(c))
}

func (a *API) updateChannel(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	var b channelBody
	if err := decode(r, &b); err != nil {
		return err
	}
	old, err := a.o.Store.GetChannel(r.Context(), id)
	if err != nil {
		return err
	}
	if len(b.Config) > 0 {
		if b.Config, err = keepSecrets(b.Type, b.Config, old.Config); err != nil {
			return err
		}
	}
	if err := b.validate(a); err != nil {
		return err
	}
	c, err := a.o.Store.UpdateChannel(r.Context(), b.channel(id))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, toChannelJSON(c))
}

func (a *API) deleteChannel(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := a.o.Store.DeleteChannel(r.Context(), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// testChannel sends a test message through the channel now and says how it
// went; the integration's error is already free of secrets.
func (a *API) testChannel(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	c, err := a.o.Store.GetChannel(r.Context(), id)
	if err != nil {
		return err
	}
	if a.o.Channels == nil {
		return &httpError{http.StatusNotImplemented, "no delivery integrations are configured"}
	}
	if err := a.o.Channels.Test(r.Context(), c); err != nil {
		return writeJSON(w, http.StatusBadGateway, map[string]string{"status": "failed", "error": err.Error()})
	}
	return writeJSON(w, http.StatusOK, map[string]string{"status": "sent"})
}
