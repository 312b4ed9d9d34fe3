package config

import "gopkg.in/yaml.v3"

// Redacted renders the config as YAML the way an API may show it: every
// secret (the commoncfg.Secret fields: passwords, webhook URLs, inline
// credentials) reads "<secret>", while secrets read from files show only
// the file's path.
func (c *Config) Redacted() (string, error) {
	b, err := yaml.Marshal(c)
	return string(b), err
}
