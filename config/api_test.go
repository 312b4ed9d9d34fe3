package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAPITokens(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "admin.token", "s3cret-admin\n")
	writeFile(t, dir, "read.token", "s3cret-read")
	cfg, err := Load([]byte("api:\n  tokens:\n    - {token_file: admin.token, role: admin}\n    - {token_file: read.token, role: read}\n"), filepath.Join(dir, "gw.yml"))
	if err != nil {
		t.Fatal(err)
	}
	a := &cfg.API
	if a.Open() || a.MaxBodySize != DefaultAPIMaxBodySize {
		t.Fatalf("api: %+v", a)
	}
	for presented, want := range map[string]string{"s3cret-admin": RoleAdmin, "s3cret-read": RoleRead, "s3cret": "", "": ""} {
		if got := a.Role(presented); got != want {
			t.Errorf("Role(%q) = %q, want %q", presented, got, want)
		}
	}
	open, _ := Load([]byte("{}"), "")
	if !open.API.Open() || open.API.Role("") != "" {
		t.Error("no tokens: the API is open and no token has a role")
	}
}

func TestAPIAndStorageErrors(t *testing.T) {
	dir := t.TempDir()
	empty := writeFile(t, dir, "empty.token", "\n")
	pgURL := writeFile(t, dir, "db.url", "mysql://user:hunter2@db/gw")
	for _, tc := range []struct {
		name, yml string
		want      []string
	}{
		{"bad role", "api:\n  tokens:\n    - {role: root, token_file: " + empty + "}\n", []string{`f.yml:3:14: role must be admin, ingest or read, not "root"`, "f.yml:3:32: token_file " + empty + " is empty"}},
		{"missing token file", "api:\n  tokens:\n    - {role: read, token_file: /nonexistent/t}\n", []string{"f.yml:3:32: token_file: open /nonexistent/t: no such file or directory"}},
		{"no token file", "api:\n  tokens:\n    - {role: read}\n", []string{"f.yml:3:7: token_file is required"}},
		{"not postgres", "storage:\n  database_url: mysql://user:hunter2@db/gw\n", []string{"f.yml:2:17: database_url must be a PostgreSQL URL"}},
		{"not postgres from file", "storage:\n  database_url_file: " + pgURL + "\n", []string{"f.yml:2:22: database_url_file must be a PostgreSQL URL"}},
		{"both urls", "storage:\n  database_url: postgres://db/gw\n  database_url_file: " + pgURL + "\n", []string{"f.yml:3:22: at most one of database_url and database_url_file", "f.yml:3:22: database_url_file must be a PostgreSQL URL"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load([]byte(tc.yml), "f.yml")
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the database password leaked into the error: %v", err)
			}
			expectErrors(t, err, tc.want)
		})
	}
}

func TestDatabaseURLFile(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "db.url", "postgres://gw:pw@db:5432/gw\n")
	cfg, err := Load([]byte("storage:\n  database_url_file: db.url\n"), filepath.Join(dir, "gw.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Storage.Database(); got != "postgres://gw:pw@db:5432/gw" {
		t.Fatalf("Database() = %q", got)
	}
	inline, err := Load([]byte("storage:\n  database_url: postgresql://db/gw\n"), "")
	if err != nil || inline.Storage.Database() != "postgresql://db/gw" {
		t.Fatalf("inline: %v %q", err, inline.Storage.Database())
	}
}
