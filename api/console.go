package api

import (
	"net/http"

	"github.com/gatewarden/gatewarden/access"
	"github.com/gatewarden/gatewarden/config"
	"github.com/gatewarden/gatewarden/store"
)

// The reads below have no ez-api counterpart: the status console needs them
// to know what its token may do and how far delivery lags.

func (a *API) consoleRoutes() []route {
	return []route{
		{"GET /admin/whoami", false, a.whoami},
		{"GET /admin/outbox", false, a.listOutbox},
	}
}

// whoami tells a client its token's role, so a console can offer only the
// actions that would succeed. An open API grants everything.
func (a *API) whoami(w http.ResponseWriter, r *http.Request) error {
	p := access.From(r.Context())
	open := p.Role == ""
	if open {
		p.Role = config.RoleAdmin
	}
	return writeJSON(w, http.StatusOK, map[string]any{"role": p.Role, "name": p.Name, "open": open})
}

var outboxStates = []string{store.OutboxPending, store.OutboxSending, store.OutboxSent, store.OutboxFailed}

type outboxJSON struct {
	ID            int64  `json:"id"`
	AlertID       int64  `json:"alert_id,omitempty"`
	Fingerprint   string `json:"fingerprint,omitempty"`
	ChannelID     int64  `json:"channel_id,omitempty"`
	State         string `json:"state"`
	Attempts      int    `json:"attempts"`
	NextAttemptAt *int64 `json:"next_attempt_at,omitempty"`
	LastError     string `json:"last_error,omitempty"`
	GroupKey      string `json:"group_key,omitempty"`
	CreatedAt     *int64 `json:"created_at,omitempty"`
	UpdatedAt     *int64 `json:"updated_at,omitempty"`
}

// outboxPage is the backlog's counts, taken in one query, and one page of
// items in the asked state.
type outboxPage struct {
	Pending         int    `json:"pending"`
	Sending         int    `json:"sending"`
	Failed          int    `json:"failed"`
	OldestPendingAt *int64 `json:"oldest_pending_at,omitempty"`
	page[outboxJSON]
}

func (a *API) listOutbox(w http.ResponseWriter, r *http.Request) error {
	f := store.OutboxFilter{State: r.URL.Query().Get("state")}
	if err := oneOf("state", f.State, outboxStates); err != nil {
		return err
	}
	var err error
	if f.ChannelID, err = queryID(r, "channel_id"); err != nil {
		return err
	}
	if f.Limit, f.Offset, err = pageParams(r); err != nil {
		return err
	}
	pending, sending, failed, oldestAt, err := a.o.Store.OutboxStats(r.Context())
	if err != nil {
		return err
	}
	items, total, err := a.o.Store.ListOutbox(r.Context(), f)
	if err != nil {
		return err
	}
	out := outboxPage{Pending: pending, Sending: sending, Failed: failed, OldestPendingAt: unix(oldestAt),
		page: page[outboxJSON]{Total: total, Limit: f.Limit, Offset: f.Offset, Items: make([]outboxJSON, 0, len(items))}}
	for _, o := range items {
		out.Items = append(out.Items, outboxJSON{ID: o.ID, AlertID: o.AlertID, Fingerprint: o.Fingerprint, ChannelID: o.ChannelID,
			State: o.State, Attempts: o.Attempts, NextAttemptAt: unix(o.NextAttemptAt), LastError: o.LastError,
			GroupKey: o.GroupKey, CreatedAt: unix(o.CreatedAt), UpdatedAt: unix(o.UpdatedAt)})
	}
	return writeJSON(w, http.StatusOK, out)
}
