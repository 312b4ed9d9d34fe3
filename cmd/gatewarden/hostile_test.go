package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestAdminRefusesWhatIsNotThere sends the admin API what a hostile or
// careless client would. On the commit before it, overrides of rules that
// were never loaded (even one named like a path) were stored, and times
// that are not times were read as some time.
func TestAdminRefusesWhatIsNotThere(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "gatewarden.yml")
	// No rule_files: the built-in pack, which has GatewayErrorRate.
	writeConfig(t, cfg, strings.Replace(accessConfig(t, dir, allTokens, "", ""), "rule_files: []\n", "", 1))
	d := startDaemon(t, cfg, filepath.Join(dir, "data"))
	override := `{"level":"warning","value":0.1}`
	for _, tc := range []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"PUT", "/admin/rules/NoSuchRule/overrides", override, 404, `no rule named \"NoSuchRule\" is loaded`},
		{"PUT", "/admin/rules/..%2F..%2Fetc%2Fpasswd/overrides", override, 404, `no rule named \"../../etc/passwd\"`},
		{"PUT", "/admin/rules/GatewayErrorRate/overrides", override, 200, ""},
		{"GET", "/admin/alert-history?since=NaN", "", 400, `since \"NaN\" is not a time`},
		{"GET", "/admin/alert-history?since=-1e300", "", 400, `since \"-1e300\" is not a time`},
		{"GET", "/admin/alert-history?until=99999999999999999999", "", 400, `until \"99999999999999999999\" is not a time`},
		{"GET", "/admin/alert-history?since=Inf", "", 400, "is not a time"},
		{"GET", "/admin/alert-history?since=1800000000", "", 200, ""},
	} {
		resp, body := d.send(tc.method, tc.path, tc.body, tokAdmin)
		if resp.StatusCode != tc.code || !strings.Contains(string(body), tc.want) {
			t.Errorf("%s %s: %d %s, want %d with %s", tc.method, tc.path, resp.StatusCode, body, tc.code, tc.want)
		}
	}
	var list struct{ Items []any }
	d.adminJSON("/admin/rules/NoSuchRule/overrides", tokAdmin, &list)
	if len(list.Items) != 0 {
		t.Errorf("overrides of an unloaded rule were stored: %v", list.Items)
	}
	d.stop()
}
