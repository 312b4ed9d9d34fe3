package config

import (
	"strings"
	"testing"
)

func TestRedactedHidesSecrets(t *testing.T) {
	cfg, err := Load([]byte(`
storage: {database_url: "postgres://gw:db-PASS-1@db/gw"}
alerting:
  alertmanagers:
    - static_configs: [{targets: ["am:9093"]}]
      basic_auth: {username: gw, password: am-PASS-2}
receiver:
  route: {receiver: r}
  receivers:
    - name: r
      webhook_configs: [{url: "http://hook/T0KEN-3", headers: {X-Key: hdr-4}, secret: hmac-5}]
`), "")
	if err != nil {
		t.Fatal(err)
	}
	y, err := cfg.Redacted()
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"db-PASS-1", "am-PASS-2", "T0KEN-3", "hdr-4", "hmac-5"} {
		if strings.Contains(y, s) {
			t.Errorf("%s shown:\n%s", s, y)
		}
	}
	if !strings.Contains(y, "am:9093") || !strings.Contains(y, "<secret>") {
		t.Errorf("the config itself is missing:\n%s", y)
	}
}
