package api

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/gatewarden/gatewarden/store"
)

var historyStatuses = []string{store.HistorySent, store.HistoryFailed, store.HistorySuppressed}

// historyJSON is ez-api's alert_history row, with the state change it
// records (gatewarden's ledger) beside ez-api's fields.
type historyJSON struct {
	ID          int64           `json:"id"`
	AlertID     int64           `json:"alert_id,omitempty"`
	RuleID      int64           `json:"rule_id,omitempty"`
	ChannelID   int64           `json:"channel_id,omitempty"`
	TriggeredAt *int64          `json:"triggered_at,omitempty"`
	Payload     json.RawMessage `json:"payload,omitempty"`
	Status      string          `json:"status"`
	Error       string          `json:"error,omitempty"`
	Attempt     int             `json:"attempt"`
	Fingerprint string          `json:"fingerprint,omitempty"`
	Transition  string          `json:"transition,omitempty"`
	StartsAt    *int64          `json:"starts_at,omitempty"`
	Episode     string          `json:"episode,omitempty"`
	OutboxID    int64           `json:"outbox_id,omitempty"`
	Peer        string          `json:"peer,omitempty"`
}

func queryID(r *http.Request, name string) (int64, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id <= 0 {
		return 0, badRequest("%s %q is not a positive integer", name, s)
	}
	return id, nil
}

func (a *API) listHistory(w http.ResponseWriter, r *http.Request) error {
	var f store.HistoryFilter
	var err error
	if f.AlertID, err = queryID(r, "alert_id"); err != nil {
		return err
	}
	if f.ChannelID, err = queryID(r, "channel_id"); err != nil {
		return err
	}
	f.Fingerprint = r.URL.Query().Get("fingerprint")
	f.Status = r.URL.Query().Get("status")
	if err := oneOf("status", f.Status, historyStatuses); err != nil {
		return err
	}
	if f.Since, err = queryTime(r, "since"); err != nil {
		return err
	}
	if f.Until, err = queryTime(r, "until"); err != nil {
		return err
	}
	if f.Limit, f.Offset, err = pageParams(r); err != nil {
		return err
	}
	items, total, err := a.o.Store.ListHistory(r.Context(), f)
	if err != nil {
		return err
	}
	out := page[historyJSON]{Total: total, Limit: f.Limit, Offset: f.Offset, Items: make([]historyJSON, 0, len(items))}
	for _, h := range items {
		j := historyJSON{ID: h.ID, AlertID: h.AlertID, RuleID: h.RuleID, ChannelID: h.ChannelID,
			TriggeredAt: unix(h.TriggeredAt), Payload: h.Payload, Status: h.Status, Error: h.Error, Attempt: h.Attempt,
			Fingerprint: h.Fingerprint, Transition: h.Transition, StartsAt: unix(h.Episode), OutboxID: h.OutboxID, Peer: h.Peer}
		if !h.Episode.IsZero() {
			j.Episode = h.Episode.Format(time.RFC3339Nano)
		}
		out.Items = append(out.Items, j)
	}
	return writeJSON(w, http.StatusOK, out)
}
