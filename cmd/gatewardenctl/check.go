package main

import (
	"fmt"
	"io"

	"github.com/gatewarden/gatewarden/config"
)

// checkConfigs reports every file, so one bad file does not hide another.
func checkConfigs(stdout, stderr io.Writer, files []string) int {
	code := 0
	for _, f := range files {
		fmt.Fprintf(stdout, "Checking %s\n", f)
		cfg, err := config.LoadFile(f)
		if err != nil {
			fmt.Fprintf(stderr, "  FAILED:\n%s\n", err)
			code = 1
			continue
		}
		fmt.Fprintf(stdout, "  SUCCESS: %d scrape configs, %d rule file patterns\n", len(cfg.ScrapeConfigs), len(cfg.RuleFiles))
	}
	return code
}
