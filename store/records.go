package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// jsonOrNull validates optional JSON and maps empty to NULL.
func jsonOrNull(what string, v json.RawMessage) (any, error) {
	if len(v) == 0 {
		return nil, nil
	}
	if !json.Valid(v) {
		return nil, fmt.Errorf("store: %s is not valid JSON", what)
	}
	return string(v), nil
}

func rawJSON(v sql.NullString) json.RawMessage {
	if !v.Valid {
		return nil
	}
	return json.RawMessage(v.String)
}

// insertID runs an INSERT … RETURNING id.
func (s *Store) insertID(ctx context.Context, q string, args ...any) (id int64, err error) {
	err = s.w.QueryRowContext(ctx, s.d.rebind(q+" RETURNING id"), args...).Scan(&id)
	return id, err
}

// --- delivery history -------------------------------------------------------

// History statuses.
const (
	HistorySent       = "sent"
	HistoryFailed     = "failed"
	HistorySuppressed = "suppressed"
)

// HistoryEntry is the outcome of one state change of an alert on one
// channel (the ledger's entries), or an entry added by hand.
type HistoryEntry struct {
	ID          int64
	AlertID     int64 // 0: none
	RuleID      int64 // 0: none
	ChannelID   int64 // 0: none
	TriggeredAt time.Time
	Payload     json.RawMessage
	Status      string
	Error       string
	Attempt     int
	// The state change recorded: the alert, firing/resolved/repeat, the
	// episode's start, the outbox item that carried it and the process
	// that claimed it.
	Fingerprint string
	Transition  string
	Episode     time.Time
	OutboxID    int64
	Peer        string
}

const historyCols = `id, alert_id, rule_id, channel_id, triggered_at, payload, status, error, attempt,
	fingerprint, transition, episode, outbox_id, peer`

func scanHistory(sc interface{ Scan(...any) error }) (HistoryEntry, error) {
	var h HistoryEntry
	var alertID, ruleID, channelID, at, episode, outbox sql.NullInt64
	var payload sql.NullString
	err := sc.Scan(&h.ID, &alertID, &ruleID, &channelID, &at, &payload, &h.Status, &h.Error, &h.Attempt,
		&h.Fingerprint, &h.Transition, &episode, &outbox, &h.Peer)
	h.AlertID, h.RuleID, h.ChannelID, h.OutboxID = alertID.Int64, ruleID.Int64, channelID.Int64, outbox.Int64
	h.TriggeredAt, h.Payload, h.Episode = goTime(at), rawJSON(payload), goTime(episode)
	return h, err
}

// AddHistory stores h (TriggeredAt defaults to now) and returns its id.
func (s *Store) AddHistory(ctx context.Context, h HistoryEntry) (id int64, err error) {
	defer s.op("add_history", &err)()
	if err = s.checkOpen(); err != nil {
		return 0, err
	}
	payload, err := jsonOrNull("history payload", h.Payload)
	if err != nil {
		return 0, err
	}
	if h.TriggeredAt.IsZero() {
		h.TriggeredAt = nowUTC()
	}
	if h.Attempt <= 0 {
		h.Attempt = 1
	}
	return s.insertID(ctx, `INSERT INTO alert_history (alert_id, rule_id, channel_id, triggered_at, payload,
		status, error, attempt, fingerprint, transition, episode, outbox_id, peer) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		nullID(h.AlertID), nullID(h.RuleID), nullID(h.ChannelID), dbTime(h.TriggeredAt), payload, h.Status, h.Error,
		h.Attempt, h.Fingerprint, h.Transition, dbTime(h.Episode), nullID(h.OutboxID), h.Peer)
}

// HistoryFilter selects history entries; zero fields do not filter. Since
// is inclusive, Until exclusive. AlertID matches the entries of the
// alert's fingerprint, including those recorded before its row was
// written.
type HistoryFilter struct {
	AlertID, ChannelID int64
	Fingerprint        string
	Status             string
	Since, Until       time.Time
	Limit, Offset      int // default 50, max 1000
}

// ListHistory returns one page, newest first, and the total matching count.
func (s *Store) ListHistory(ctx context.Context, f HistoryFilter) (items []HistoryEntry, total int, err error) {
	defer s.op("list_history", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, 0, err
	}
	var w where
	if f.AlertID != 0 {
		w.add("(alert_id = ? OR fingerprint <> '' AND fingerprint = (SELECT fingerprint FROM alerts WHERE id = ?))", f.AlertID, f.AlertID)
	}
	if f.ChannelID != 0 {
		w.add("channel_id = ?", f.ChannelID)
	}
	if f.Fingerprint != "" {
		w.add("fingerprint = ?", f.Fingerprint)
	}
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	if !f.Since.IsZero() {
		w.add("triggered_at >= ?", f.Since.UnixMicro())
	}
	if !f.Until.IsZero() {
		w.add("triggered_at < ?", f.Until.UnixMicro())
	}
	items, total, err = listPage(ctx, s, "alert_history", historyCols, "triggered_at DESC, id DESC", &w, f.Limit, f.Offset, scanHistory)
	return items, total, err
}

// listPage counts and fetches one page of a filtered table.
func listPage[T any](ctx context.Context, s *Store, table, cols, order string, w *where, limit, offset int,
	scan func(interface{ Scan(...any) error }) (T, error)) ([]T, int, error) {
	limit, offset = page(limit, offset, 50, 1000)
	var total int
	if err := s.r.QueryRowContext(ctx, s.d.rebind("SELECT COUNT(*) FROM "+table+w.String()), w.args...).Scan(&total); err != nil {
		return nil, 0, err
	}
	if offset >= total {
		return []T{}, total, nil
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind("SELECT "+cols+" FROM "+table+w.String()+" ORDER BY "+order+
		" LIMIT ? OFFSET ?"), append(w.args, limit, offset)...)
	if err != nil {
		return nil, 0, err
	}
	items, err := collect(rows, scan)
	return items, total, err
}

// --- threshold overrides ----------------------------------------------------

// Override replaces a rule's threshold at one level for one target label set
// (empty Labels: the whole rule).
type Override struct {
	ID        int64
	Rule      string
	Labels    map[string]string
	Level     string
	Value     float64
	UpdatedAt time.Time
}

const overrideCols = "id, rule_name, labels, level, value, updated_at"

func scanOverride(sc interface{ Scan(...any) error }) (Override, error) {
	var o Override
	var labels string
	var at sql.NullInt64
	if err := sc.Scan(&o.ID, &o.Rule, &labels, &o.Level, &o.Value, &at); err != nil {
		return o, err
	}
	o.UpdatedAt = goTime(at)
	return o, json.Unmarshal([]byte(labels), &o.Labels)
}

// labelKey is the canonical text of a label set: encoding/json sorts map
// keys, so equal sets give equal keys and the unique index can do its job.
func labelKey(l map[string]string) (string, error) {
	if l == nil {
		l = map[string]string{}
	}
	b, err := json.Marshal(l)
	return string(b), err
}

// PutOverride inserts or replaces the override for (rule, labels, level).
func (s *Store) PutOverride(ctx context.Context, o Override) (out Override, err error) {
	defer s.op("put_override", &err)()
	if err = s.checkOpen(); err != nil {
		return out, err
	}
	if o.Rule == "" || o.Level == "" {
		return out, fmt.Errorf("store: override needs a rule and a level")
	}
	key, err := labelKey(o.Labels)
	if err != nil {
		return out, err
	}
	return scanOverride(s.w.QueryRowContext(ctx, s.d.rebind(`INSERT INTO threshold_overrides
		(rule_name, labels, level, value, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (rule_name, labels, level) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
		RETURNING `+overrideCols), o.Rule, key, o.Level, o.Value, nowUTC().UnixMicro()))
}

// DeleteOverride removes one override; ErrNotFound if there is none.
func (s *Store) DeleteOverride(ctx context.Context, rule string, labels map[string]string, level string) (err error) {
	defer s.op("delete_override", &err)()
	if err = s.checkOpen(); err != nil {
		return err
	}
	key, err := labelKey(labels)
	if err != nil {
		return err
	}
	res, err := s.exec(ctx, "DELETE FROM threshold_overrides WHERE rule_name = ? AND labels = ? AND level = ?", rule, key, level)
	return affectedOne(res, err)
}

// affectedOne maps "no row changed" to ErrNotFound.
func affectedOne(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err == nil && n == 0 {
		return ErrNotFound
	}
	return err
}

// ListOverrides returns the overrides of rule (all rules if empty).
func (s *Store) ListOverrides(ctx context.Context, rule string) (items []Override, err error) {
	defer s.op("list_overrides", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, err
	}
	var w where
	if rule != "" {
		w.add("rule_name = ?", rule)
	}
	rows, err := s.r.QueryContext(ctx, s.d.rebind("SELECT "+overrideCols+" FROM threshold_overrides"+w.String()+
		" ORDER BY rule_name, labels, level"), w.args...)
	if err != nil {
		return nil, err
	}
	return collect(rows, scanOverride)
}

// --- throttle audit ---------------------------------------------------------

// ThrottleAudit records one throttle action (apply, verify, release) on a
// plugin instance and its outcome.
type ThrottleAudit struct {
	ID         int64
	TenantID   string
	PluginID   string
	InstanceID string
	Action     string
	Decision   json.RawMessage
	Result     string
	Error      string
	CreatedAt  time.Time
}

const auditCols = "id, tenant_id, plugin_id, instance_id, action, decision, result, error, created_at"

func scanAudit(sc interface{ Scan(...any) error }) (ThrottleAudit, error) {
	var a ThrottleAudit
	var decision sql.NullString
	var at sql.NullInt64
	err := sc.Scan(&a.ID, &a.TenantID, &a.PluginID, &a.InstanceID, &a.Action, &decision, &a.Result, &a.Error, &at)
	a.Decision, a.CreatedAt = rawJSON(decision), goTime(at)
	return a, err
}

// AddThrottleAudit stores a (CreatedAt defaults to now) and returns its id.
func (s *Store) AddThrottleAudit(ctx context.Context, a ThrottleAudit) (id int64, err error) {
	defer s.op("add_throttle_audit", &err)()
	if err = s.checkOpen(); err != nil {
		return 0, err
	}
	decision, err := jsonOrNull("throttle decision", a.Decision)
	if err != nil {
		return 0, err
	}
	if a.CreatedAt.IsZero() {
		a.CreatedAt = nowUTC()
	}
	return s.insertID(ctx, `INSERT INTO throttle_audit (tenant_id, plugin_id, instance_id, action, decision,
		result, error, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, a.TenantID, a.PluginID, a.InstanceID,
		a.Action, decision, a.Result, a.Error, dbTime(a.CreatedAt))
}

// AuditFilter selects throttle audit records; empty fields do not filter.
type AuditFilter struct {
	TenantID, PluginID, InstanceID string
	Since                          time.Time
	Limit, Offset                  int
}

// ListThrottleAudit returns one page, newest first, and the total count.
func (s *Store) ListThrottleAudit(ctx context.Context, f AuditFilter) (items []ThrottleAudit, total int, err error) {
	defer s.op("list_throttle_audit", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, 0, err
	}
	var w where
	for col, v := range map[string]string{"tenant_id": f.TenantID, "plugin_id": f.PluginID, "instance_id": f.InstanceID} {
		if v != "" {
			w.add(col+" = ?", v)
		}
	}
	if !f.Since.IsZero() {
		w.add("created_at >= ?", f.Since.UnixMicro())
	}
	items, total, err = listPage(ctx, s, "throttle_audit", auditCols, "created_at DESC, id DESC", &w, f.Limit, f.Offset, scanAudit)
	return items, total, err
}

// --- channels ---------------------------------------------------------------

// Channel is a delivery destination. Config is the integration's JSON,
// secrets included: redaction is the API's job.
type Channel struct {
	ID        int64
	Name      string
	Type      string // webhook, email, feishu
	Config    json.RawMessage
	Enabled   bool
	CreatedAt time.Time
	UpdatedAt time.Time
}

const channelCols = "id, name, type, config, enabled, created_at, updated_at"

func scanChannel(sc interface{ Scan(...any) error }) (Channel, error) {
	var c Channel
	var config string
	var created, updated sql.NullInt64
	err := sc.Scan(&c.ID, &c.Name, &c.Type, &config, &c.Enabled, &created, &updated)
	c.Config, c.CreatedAt, c.UpdatedAt = json.RawMessage(config), goTime(created), goTime(updated)
	return c, err
}

func channelConfig(c Channel) (string, error) {
	if len(c.Config) == 0 {
		return "{}", nil
	}
	if !json.Valid(c.Config) {
		return "", fmt.Errorf("store: channel %q config is not valid JSON", c.Name)
	}
	return string(c.Config), nil
}

// CreateChannel stores c; a duplicate name is ErrConflict.
func (s *Store) CreateChannel(ctx context.Context, c Channel) (out Channel, err error) {
	defer s.op("create_channel", &err)()
	if err = s.checkOpen(); err != nil {
		return out, err
	}
	cfg, err := channelConfig(c)
	if err != nil {
		return out, err
	}
	now := nowUTC().UnixMicro()
	out, err = scanChannel(s.w.QueryRowContext(ctx, s.d.rebind(`INSERT INTO alert_channels (name, type, config,
		enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING `+channelCols),
		c.Name, c.Type, cfg, c.Enabled, now, now))
	return out, s.nameTaken(err, c.Name)
}

// nameTaken says a unique violation of a channel in the API's words: the
// driver's text names tables and error codes.
func (s *Store) nameTaken(err error, name string) error {
	if err != nil && s.d.isUnique(err) {
		return fmt.Errorf("%w: a channel named %q exists", ErrConflict, name)
	}
	return err
}

// UpdateChannel replaces name, type, config and enabled of c.ID.
func (s *Store) UpdateChannel(ctx context.Context, c Channel) (out Channel, err error) {
	defer s.op("update_channel", &err)()
	if err = s.checkOpen(); err != nil {
		return out, err
	}
	cfg, err := channelConfig(c)
	if err != nil {
		return out, err
	}
	out, err = scanChannel(s.w.QueryRowContext(ctx, s.d.rebind(`UPDATE alert_channels SET name = ?, type = ?,
		config = ?, enabled = ?, updated_at = ? WHERE id = ? RETURNING `+channelCols),
		c.Name, c.Type, cfg, c.Enabled, nowUTC().UnixMicro(), c.ID))
	return out, s.nameTaken(err, c.Name)
}

// GetChannel returns one channel or ErrNotFound.
func (s *Store) GetChannel(ctx context.Context, id int64) (c Channel, err error) {
	defer s.op("get_channel", &err)()
	if err = s.checkOpen(); err != nil {
		return c, err
	}
	return scanChannel(s.r.QueryRowContext(ctx, s.d.rebind("SELECT "+channelCols+" FROM alert_channels WHERE id = ?"), id))
}

// ListChannels returns every channel by id.
func (s *Store) ListChannels(ctx context.Context) (items []Channel, err error) {
	defer s.op("list_channels", &err)()
	if err = s.checkOpen(); err != nil {
		return nil, err
	}
	rows, err := s.r.QueryContext(ctx, "SELECT "+channelCols+" FROM alert_channels ORDER BY id")
	if err != nil {
		return nil, err
	}
	return collect(rows, scanChannel)
}

// DeleteChannel removes a channel; its pending outbox items go with it and
// its history keeps a NULL channel id.
func (s *Store) DeleteChannel(ctx context.Context, id int64) (err error) {
	defer s.op("delete_channel", &err)()
	if err = s.checkOpen(); err != nil {
		return err
	}
	res, err := s.exec(ctx, "DELETE FROM alert_channels WHERE id = ?", id)
	return affectedOne(res, err)
}
