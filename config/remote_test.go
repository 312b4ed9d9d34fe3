package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	promconfig "github.com/prometheus/prometheus/config"
)

// TestRemoteWriteIsPrometheusVocabulary loads a block as prometheus.yml
// would have it: Prometheus's defaults fill what is left out, credential
// files are anchored at the config's directory, and the section reaches
// storage/remote with the external labels.
func TestRemoteWriteIsPrometheusVocabulary(t *testing.T) {
	dir := t.TempDir()
	yml := `global: {external_labels: {node: n1}}
remote_write:
  - url: https://vm.internal/api/v1/write
    name: central
    remote_timeout: 10s
    headers: {X-Scope-OrgID: fleet}
    basic_auth: {username: gw, password_file: vm.pw}
    tls_config: {ca_file: ca.pem}
    write_relabel_configs: [{source_labels: [__name__], regex: "go_.*", action: drop}]
    queue_config: {max_shards: 4, capacity: 5000}
    metadata_config: {send: false}
    protobuf_message: io.prometheus.write.v2.Request
  - url: http://prometheus:9090/api/v1/write
    authorization: {credentials_file: /etc/gw/token}
`
	cfg, err := Load([]byte(yml), filepath.Join(dir, "gatewarden.yml"))
	if err != nil {
		t.Fatal(err)
	}
	pc := cfg.Prometheus()
	if len(pc.RemoteWriteConfigs) != 2 || pc.GlobalConfig.ExternalLabels.Get("node") != "n1" {
		t.Fatalf("handed to storage/remote: %+v", pc)
	}
	a, b := pc.RemoteWriteConfigs[0], pc.RemoteWriteConfigs[1]
	if a.HTTPClientConfig.BasicAuth.PasswordFile != filepath.Join(dir, "vm.pw") || a.HTTPClientConfig.TLSConfig.CAFile != filepath.Join(dir, "ca.pem") {
		t.Errorf("files not anchored at the config's directory: %+v", a.HTTPClientConfig)
	}
	if a.QueueConfig.MaxShards != 4 || a.QueueConfig.MaxSamplesPerSend != promconfig.DefaultQueueConfig.MaxSamplesPerSend || a.MetadataConfig.Send {
		t.Errorf("queue and metadata settings: %+v %+v", a.QueueConfig, a.MetadataConfig)
	}
	if time.Duration(b.RemoteTimeout) != 30*time.Second || b.ProtobufMessage != promconfig.DefaultRemoteWriteConfig.ProtobufMessage ||
		b.HTTPClientConfig.Authorization.CredentialsFile != "/etc/gw/token" || b.HTTPClientConfig.Authorization.Type != "Bearer" {
		t.Errorf("Prometheus's defaults: %+v", b)
	}
}

// TestRemoteWriteErrorsAreLocated: Prometheus's own checks, and ours
// across endpoints, name the file and the line of the block.
func TestRemoteWriteErrorsAreLocated(t *testing.T) {
	for _, tc := range []struct{ name, yml, want string }{
		{"no url", "remote_write:\n  - name: a\n", "f.yml:2:5: remote_write: url for remote_write is empty"},
		{"unknown field", "remote_write:\n  - url: http://x/\n    queue: {}\n", `f.yml:3:5: unknown field "queue"`},
		{"wrong type", "remote_write:\n  - url: http://x/\n    remote_timeout: soon\n", "f.yml:3:21:"},
		{"auth header", "remote_write:\n  - url: http://x/\n    headers: {Authorization: x}\n", "f.yml:2:5: remote_write: authorization header must be changed"},
		{"two auths", "remote_write:\n  - url: http://x/\n    basic_auth: {username: u}\n    authorization: {credentials: c}\n", "f.yml:2:5: remote_write:"},
		{"protobuf", "remote_write:\n  - url: http://x/\n    protobuf_message: v3\n", "f.yml:2:5: remote_write: invalid protobuf_message value"},
		{"same name", "remote_write:\n  - url: http://x/\n    name: a\n  - url: http://y/\n    name: a\n", `f.yml:5:11: remote_write name "a" is used by an earlier endpoint`},
		{"same endpoint twice", "remote_write:\n  - url: http://x/\n  - url: http://x/\n", "f.yml:3:5: remote_write: the same endpoint as an earlier one"},
		{"relabel", "remote_write:\n  - url: http://x/\n    write_relabel_configs: [{action: replace, target_label: \"\"}]\n", "f.yml:3:28: remote_write:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.yml), "f.yml")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestRemoteWriteErrorsDoNotHideOthers: a bad value in a remote_write
// block is one error among the file's others, not the only one.
func TestRemoteWriteErrorsDoNotHideOthers(t *testing.T) {
	_, err := Load([]byte("remote_write:\n  - url: http://x/\n    remote_timeout: \"30\"\n  - url: http://y/\n    remote_timeout: soon\nbogus: 1\n"), "f.yml")
	for _, want := range []string{`f.yml:3:21: not a valid duration string: "30"`, `f.yml:5:21: not a valid duration string: "soon"`, `f.yml:6:1: unknown field "bogus"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q among the errors", err, want)
		}
	}
}

// TestRemoteWriteSecretsStayOut: a password written inline is a
// Prometheus Secret, rendered "<secret>" wherever the config is shown.
func TestRemoteWriteSecretsStayOut(t *testing.T) {
	cfg, err := Load([]byte("remote_write:\n  - url: http://x/\n    basic_auth: {username: u, password: hunter2-remote}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if s := cfg.Prometheus().String(); strings.Contains(s, "hunter2-remote") || !strings.Contains(s, "<secret>") {
		t.Errorf("rendered config:\n%s", s)
	}
}
