//go:build !(js && wasm)

// Package buildinfo computes the build id of the wasm client: a hash of
// every Go source file the GOOS=js GOARCH=wasm build of ./wasm compiles
// from this module, go.mod, go.sum and the Go version. build_wasm writes it
// to bindings/js/wasm/BUILD_ID next to jazz.wasm, so tests can refuse a wasm
// built from other sources (the freshness hash of tailscale's tsconnect).
package buildinfo

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Dir is where the build puts jazz.wasm, BUILD_ID and SIZES.json, relative
// to the repository root.
const Dir = "bindings/js/wasm"

// SourceHash returns the build id for the module rooted at root.
func SourceHash(root string) (string, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}\t{{join .GoFiles \"\\t\"}}{{end}}{{end}}", "./wasm")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list: %v: %s", err, stderr.String())
	}
	files := []string{filepath.Join(root, "go.mod"), filepath.Join(root, "go.sum")}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		parts := strings.Split(line, "\t")
		if len(parts) < 2 {
			continue
		}
		for _, f := range parts[1:] {
			files = append(files, filepath.Join(parts[0], f))
		}
	}
	sort.Strings(files)
	ver, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "go %s\n", strings.TrimSpace(string(ver)))
	for _, f := range files {
		rel, err := filepath.Rel(root, f)
		if err != nil {
			return "", err
		}
		fh, err := os.Open(f)
		if os.IsNotExist(err) && filepath.Base(f) == "go.sum" {
			continue
		}
		if err != nil {
			return "", err
		}
		fs := sha256.New()
		_, err = io.Copy(fs, fh)
		fh.Close()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %x\n", filepath.ToSlash(rel), fs.Sum(nil))
	}
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

// Sizes is bindings/js/wasm/SIZES.json: the built wasm's size in bytes,
// raw and compressed as a server would send it.
type Sizes struct {
	BuildID string `json:"buildId"`
	Raw     int64  `json:"raw"`
	Gzip    int64  `json:"gzip"`   // gzip -9
	Brotli  int64  `json:"brotli"` // brotli -q 11
}
