// Command render writes the mixin's rule files and dashboards (make mixin).
// Run it from the module root, or pass the root with --root.
package main

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/gatewarden/gatewarden/mixin"
)

func main() {
	root := flag.String("root", ".", "the module root, holding mixin/ and dashboards/")
	flag.Parse()
	files, err := mixin.Render(*root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "render:", err)
		os.Exit(1)
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		path := filepath.Join(*root, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "render:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(path, files[name], 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "render:", err)
			os.Exit(1)
		}
		fmt.Println(name)
	}
}
