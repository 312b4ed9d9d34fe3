package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"
)

// adminCmd talks to a gatewarden's admin API, as amtool talks to
// Alertmanager's.
type adminCmd struct {
	alerts, ack, resolve, stats *kingpin.CmdClause
	server, tokenFile, status   *string
	id                          *int64
	by                          *string
}

func newAdmin(app *kingpin.Application) *adminCmd {
	c := &adminCmd{}
	admin := app.Command("admin", "Manage alerts through a gatewarden's admin API.")
	c.server = admin.Flag("server", "gatewarden URL.").Default("http://127.0.0.1:9095").String()
	c.tokenFile = admin.Flag("token-file", "File holding a bearer token for the admin API.").String()
	c.alerts = admin.Command("alerts", "List alerts, newest first.")
	c.status = c.alerts.Flag("status", "Only alerts in this status (active, acknowledged, resolved, dismissed).").String()
	c.stats = admin.Command("stats", "Count alerts by status and severity.")
	c.ack = admin.Command("ack", "Acknowledge an alert.")
	c.id = c.ack.Arg("id", "Alert id.").Required().Int64()
	c.by = c.ack.Flag("by", "Who acknowledges.").Default(os.Getenv("USER")).String()
	c.resolve = admin.Command("resolve", "Resolve an alert.")
	c.resolve.Arg("id", "Alert id.").Required().Int64Var(c.id)
	return c
}

func (c *adminCmd) handles(cmd string) bool {
	for _, cc := range []*kingpin.CmdClause{c.alerts, c.ack, c.resolve, c.stats} {
		if cc.FullCommand() == cmd {
			return true
		}
	}
	return false
}

func (c *adminCmd) exec(cmd string, stdout, stderr io.Writer) int {
	var err error
	switch cmd {
	case c.alerts.FullCommand():
		err = c.listAlerts(stdout)
	case c.stats.FullCommand():
		var st map[string]int64
		if err = c.do("GET", "/admin/alerts/stats", nil, &st); err == nil {
			fmt.Fprintf(stdout, "total %d: active %d (critical %d, warning %d, info %d), acknowledged %d, resolved %d\n",
				st["total"], st["active"], st["critical"], st["warning"], st["info"], st["acknowledged"], st["resolved"])
		}
	case c.ack.FullCommand():
		err = c.do("POST", fmt.Sprintf("/admin/alerts/%d/ack", *c.id), map[string]string{"acked_by": *c.by}, nil)
	case c.resolve.FullCommand():
		err = c.do("POST", fmt.Sprintf("/admin/alerts/%d/resolve", *c.id), nil, nil)
	}
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	return 0
}

func (c *adminCmd) listAlerts(stdout io.Writer) error {
	var page struct {
		Total int `json:"total"`
		Items []struct {
			ID                            int64
			Status, Severity, Type, Title string
			CreatedAt                     int64 `json:"created_at"`
		} `json:"items"`
	}
	q := url.Values{"limit": {"200"}}
	if *c.status != "" {
		q.Set("status", *c.status)
	}
	if err := c.do("GET", "/admin/alerts?"+q.Encode(), nil, &page); err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "ID\tSTATUS\tSEVERITY\tTYPE\tSINCE\tTITLE")
	for _, a := range page.Items {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\t%s\t%s\n", a.ID, a.Status, a.Severity, a.Type, time.Unix(a.CreatedAt, 0).UTC().Format("15:04:05"), a.Title)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if page.Total > len(page.Items) {
		fmt.Fprintf(stdout, "... and %d more\n", page.Total-len(page.Items))
	}
	return nil
}

// do sends one request; an error answer is reported with the API's reason.
func (c *adminCmd) do(method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, strings.TrimSuffix(*c.server, "/")+path, rd)
	if err != nil {
		return err
	}
	if *c.tokenFile != "" {
		tok, err := os.ReadFile(*c.tokenFile)
		if err != nil {
			return err
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	cl := &http.Client{Timeout: 30 * time.Second}
	resp, err := cl.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		if json.Unmarshal(b, &e) == nil && e.Error != "" {
			return fmt.Errorf("%s: %s", resp.Status, e.Error)
		}
		return fmt.Errorf("%s", resp.Status)
	}
	if out != nil {
		return json.Unmarshal(b, out)
	}
	return nil
}
