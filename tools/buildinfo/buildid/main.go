//go:build !(js && wasm)

// Command buildid prints the wasm build id of the current sources (see
// package buildinfo); build_wasm stores it in bindings/js/wasm/BUILD_ID.
// Run from the repository root: go run ./tools/buildinfo/buildid
package main

import (
	"fmt"
	"os"

	"github.com/jazzgo/jazz-tools/tools/buildinfo"
)

func main() {
	id, err := buildinfo.SourceHash(".")
	if err != nil {
		fmt.Fprintln(os.Stderr, "buildid:", err)
		os.Exit(1)
	}
	fmt.Println(id)
}
