package config

import (
	"fmt"
	"os"
	"strings"

	"github.com/gatewarden/gatewarden/internal/yamlfile"
)

// validate reads database_url_file, so a reload notices a broken file
// before the store is reopened. Errors never quote the URL: it carries the
// database password.
func (c *StorageConfig) validate(path string) []yamlfile.PathError {
	var errs []yamlfile.PathError
	add := func(msg string, p ...any) { errs = append(errs, yamlfile.At(msg, append([]any{path}, p...)...)) }
	if c.Retention < 0 {
		add("storage retention must be positive", "retention")
	}
	c.databaseURL = string(c.DatabaseURL)
	if c.DatabaseURL != "" && c.DatabaseURLFile != "" {
		add("at most one of database_url and database_url_file may be set", "database_url_file")
	}
	if c.DatabaseURLFile != "" {
		b, err := os.ReadFile(c.DatabaseURLFile)
		if err != nil {
			add(fmt.Sprintf("database_url_file: %v", err), "database_url_file")
			return errs
		}
		c.databaseURL = strings.TrimSpace(string(b))
	}
	u := c.databaseURL
	if u != "" && !strings.HasPrefix(u, "postgres://") && !strings.HasPrefix(u, "postgresql://") {
		field := "database_url"
		if c.DatabaseURLFile != "" {
			field = "database_url_file"
		}
		add(field+" must be a PostgreSQL URL starting with postgres:// or postgresql://", field)
	}
	return errs
}
