package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatewarden/gatewarden/gatewaysim"
)

const (
	consoleAdminToken = "console-admin-token"
	consoleReadToken  = "console-read-token"
)

// chromium finds the browser the console tests drive. A missing browser
// fails rather than skips: `make test-deps` installs Debian's package, and
// a skipped browser test would let a broken console through CI.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("no chromium on PATH: the console tests need a headless browser; `make test-deps` installs Debian's chromium package (apt-get install chromium)")
	return ""
}

// browser starts a headless Chromium for the test and returns a tab.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		// Chromium's sandbox refuses to start as root, which CI runs as;
		// the pages are our own, on 127.0.0.1.
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.WindowSize(1400, 900),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	tab, tcancel := chromedp.NewContext(actx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(tcancel)
	return tab
}

// page drives one browser tab against the daemon.
type page struct {
	t   *testing.T
	ctx context.Context
	d   *daemon
	dir string // where screenshots go
}

func (p *page) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// until waits for a JavaScript condition on the page; the console
// refreshes on its own clock, so the test waits for what it shows.
func (p *page) until(what, js string) {
	p.t.Helper()
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[chromedp.Void](js,
		chromedp.WithPollingInterval(100*time.Millisecond), chromedp.WithPollingTimeout(90*time.Second))); err != nil {
		p.t.Fatalf("waiting for %s: %v", what, err)
	}
}

func (p *page) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		p.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

// screenshot keeps the page as the reviewer would see it.
func (p *page) screenshot(name string) {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	path := filepath.Join(p.dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		p.t.Fatal(err)
	}
	p.t.Logf("screenshot: %s", path)
}

func (p *page) signIn(token string) {
	p.t.Helper()
	p.do("sign in", chromedp.WaitVisible(chromedp.CSS("#token")), chromedp.SendKeys(chromedp.CSS("#token"), token+"\n"))
}

func (p *page) open(name string) {
	p.t.Helper()
	p.do("open "+name, chromedp.Click(chromedp.CSS(`nav a[data-page="`+name+`"]`)))
	p.until(name+" page", fmt.Sprintf(`location.pathname === "/%s"`, name))
}

type consoleAlert struct {
	ID         int64  `json:"id"`
	Status     string `json:"status"`
	AckedBy    string `json:"acked_by"`
	RelatedRef string `json:"related_ref"`
}

// consoleConfig runs the built-in rules, a receiver with one channel that
// works and one that cannot connect, the auto-throttle with a stable window
// long enough that only the console releases it, and tokens.
func consoleConfig(t *testing.T, dir, addr, adminRole string) string {
	t.Helper()
	for name, v := range map[string]string{"admin.token": consoleAdminToken, "read.token": consoleReadToken} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return `global: {scrape_interval: 1s, evaluation_interval: 1s}
scrape_configs:
  - job_name: gateway
    static_configs: [{targets: ["` + addr + `"]}]
api:
  tokens:
    - {name: ops, token_file: admin.token, role: ` + adminRole + `}
    - {name: viewer, token_file: read.token, role: read}
receiver:
  route: {receiver: ops, group_by: [alertname], group_wait: 1s, group_interval: 2s}
  receivers:
    - name: ops
      webhook_configs:
        - url: "http://` + addr + `/sim/webhook"
        - url: "http://` + freeAddr(t) + `/nobody-listens"
throttle:
  gateway: {url: "http://` + addr + `"}
  stable_window: 1h
`
}

// TestConsoleInBrowser opens the status console in headless Chromium
// against the real daemon and gatewaysim: a wrong token, a firing alert
// acknowledged, a throttle released at the gateway, every page shown (a
// screenshot each), a read token without write buttons, a 403 explained,
// an unknown page 404.
//
// Not parallel: a browser is the heaviest thing in the package, and next to
// the other daemons it would slow their scrape-driven deadlines on a small
// CI machine.
func TestConsoleInBrowser(t *testing.T) {
	sim, addr := simTarget(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	writeConfig(t, cfg, consoleConfig(t, dir, addr, "admin"))
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	if _, err := sim.StartScenario(gatewaysim.ScenarioRequest{Name: "cpu-spike", Target: gatewaysim.Target{TenantID: "t1", PluginID: "t1-plugin1", InstanceID: "i1"}}); err != nil {
		t.Fatal(err)
	}
	p := &page{t: t, ctx: browser(t), d: d, dir: t.ArtifactDir()}

	p.do("open the console", chromedp.Navigate(d.url+"/"))
	p.signIn("not-the-token")
	p.until("the wrong-token message", `!document.querySelector("#login-error").hidden`)
	if msg := p.text("#login-error"); !strings.Contains(msg, "Wrong token") {
		t.Fatalf("after a wrong token the console says %q", msg)
	}
	p.screenshot("login")
	p.signIn(consoleAdminToken)
	p.until("the alerts page", `!document.querySelector("#page").hidden && document.querySelector("#stats .card")`)
	if role := p.text("#role"); role != "admin" {
		t.Fatalf("role badge %q for the admin token", role)
	}

	alert := cpuAlert(t, d)
	row := fmt.Sprintf("#alert-%d", alert.ID)
	p.until("the firing CPU alert with its buttons", fmt.Sprintf(`document.querySelector(%q)`, row+` button[data-action="ack"]`))
	// The evaluator's metadata: the threshold the value crossed, and over what.
	p.until("the threshold under the value", fmt.Sprintf(`(document.querySelector(%q) || {}).textContent === "threshold 0.8 over #3"`, row+" .threshold"))
	p.do("acknowledge as alice",
		chromedp.SendKeys(chromedp.CSS("#operator"), "alice"),
		chromedp.Click(chromedp.CSS(row+` button[data-action="ack"]`)))
	d.eventually("the ack in the API", func() bool {
		var a consoleAlert
		d.adminJSON(fmt.Sprintf("/admin/alerts/%d", alert.ID), consoleReadToken, &a)
		return a.Status == "acknowledged" && a.AckedBy == "alice"
	})
	p.until("the acknowledged badge", fmt.Sprintf(`document.querySelector(%q)`, row+" .badge.acknowledged"))
	p.screenshot("alerts")

	p.open("throttles")
	p.until("the active throttle", `[...document.querySelectorAll("#active tr[id^=throttle-]")].some(r => r.textContent.includes("i1"))`)
	d.eventually("the instance throttled at the gateway", func() bool { return gatewayThrottled(sim, "i1") })
	p.screenshot("throttles")
	p.do("release", chromedp.Click(chromedp.CSS(`#active tr[id^=throttle-] button[data-action="release"]`)))
	d.eventually("the gateway's throttle list without i1", func() bool { return !gatewayThrottled(sim, "i1") })
	p.until("the release in the timeline", `document.querySelector("#timeline .badge.released")`)
	if n := p.text("#notice"); !strings.Contains(n, "release requested by alice") {
		t.Errorf("notice after release: %q", n)
	}

	p.open("deliveries")
	p.until("deliveries sent and retried", `document.querySelector("#history .badge.sent") && document.querySelector("#per-channel .badge.pending")`)
	p.screenshot("deliveries")

	p.open("rules")
	p.until("rule groups and a healthy target", `document.querySelector("#groups table") && document.querySelector("#targets .badge.up")`)
	p.screenshot("rules")

	// Where an alert's generatorURL leads: its expression, evaluated now.
	p.do("the expression view", chromedp.Navigate(d.url+"/graph?g0.expr="+url.QueryEscape(`gateway_plugin_cpu_usage_ratio{instance_id="i1"}`)+"&g0.tab=1"))
	p.until("the expression's series", `[...document.querySelectorAll("#result tr")].some(r => r.textContent.includes('instance_id="i1"'))`)
	p.screenshot("graph")

	readOnlyTab(t, p)
	forbiddenWrite(t, p, cfg, dir, addr, alert.ID)
	unknownPage(t, p)
	if logs := d.logs.String(); strings.Contains(logs, consoleAdminToken) || strings.Contains(logs, consoleReadToken) {
		t.Error("a token appears in the log")
	}
	d.stop()
}

func cpuAlert(t *testing.T, d *daemon) consoleAlert {
	t.Helper()
	var found consoleAlert
	d.eventually("the CPU alert in the store", func() bool {
		var list struct{ Items []consoleAlert }
		d.adminJSON("/admin/alerts?type=cpu_anomaly&status=active", consoleAdminToken, &list)
		for _, a := range list.Items {
			if a.RelatedRef == "i1" {
				found = a
				return true
			}
		}
		return false
	})
	return found
}

func gatewayThrottled(sim *gatewaysim.Sim, instance string) bool {
	for _, th := range sim.Throttles() {
		if th.InstanceID == instance {
			return true
		}
	}
	return false
}

// readOnlyTab signs in with the read token in a fresh tab (its own
// session): everything shows, nothing offers a change.
func readOnlyTab(t *testing.T, admin *page) {
	t.Helper()
	tab, cancel := chromedp.NewContext(admin.ctx)
	t.Cleanup(cancel)
	p := &page{t: t, ctx: tab, d: admin.d, dir: admin.dir}
	p.do("open the console read-only", chromedp.Navigate(p.d.url+"/alerts"))
	p.signIn(consoleReadToken)
	p.until("alerts for the read token", `document.querySelector("#alerts tr[id^=alert-]")`)
	if role := p.text("#role"); role != "read-only" {
		t.Errorf("role badge %q for the read token", role)
	}
	p.open("throttles")
	p.until("the throttle timeline", `document.querySelector("#timeline tr[id^=audit-]")`)
	p.open("alerts")
	p.until("the alerts again", `document.querySelector("#alerts tr[id^=alert-]")`)
	if n, err := chromedp.Run(p.ctx, chromedp.Evaluate[int](`document.querySelectorAll("button[data-action]").length`)); err != nil || n != 0 {
		t.Errorf("a read token sees %d write buttons (%v)", n, err)
	}
}

// forbiddenWrite demotes the admin token at a reload while its tab is
// open: the next write answers 403, and the console says why.
func forbiddenWrite(t *testing.T, p *page, cfg, dir, addr string, alertID int64) {
	t.Helper()
	writeConfig(t, cfg, consoleConfig(t, dir, addr, "read"))
	p.d.reload(consoleAdminToken)
	// Within the page, as an operator who was already signed in would.
	p.open("alerts")
	btn := fmt.Sprintf(`#alert-%d button[data-action="resolve"]`, alertID)
	p.until("the resolve button", fmt.Sprintf(`document.querySelector(%q)`, btn))
	p.do("resolve with a demoted token", chromedp.Click(chromedp.CSS(btn)))
	p.until("the 403 message", `document.querySelector("#notice.error")`)
	if n := p.text("#notice"); !strings.Contains(n, "read-only") {
		t.Errorf("after a 403 the console says %q", n)
	}
	p.until("the buttons gone with the demotion", `document.querySelector("#role").textContent === "read-only" && !document.querySelector("button[data-action]")`)
}

// reload has the daemon reread its config and requires it to succeed;
// with tokens configured it needs an admin one.
func (d *daemon) reload(adminToken ...string) {
	d.t.Helper()
	resp, _ := d.send("POST", "/-/reload", "", strings.Join(adminToken, ""))
	if resp.StatusCode != http.StatusOK {
		d.t.Fatalf("reload: %s", resp.Status)
	}
}

func unknownPage(t *testing.T, p *page) {
	t.Helper()
	resp, err := chromedp.Run(p.ctx, chromedp.NavigateResponse(p.d.url+"/no-such-page"))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Status != http.StatusNotFound {
		t.Errorf("/no-such-page: %d, want 404", resp.Status)
	}
	if body := p.text("body"); !strings.Contains(body, "404 page not found") {
		t.Errorf("/no-such-page shows %q", body)
	}
}
