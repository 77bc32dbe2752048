// Command gocheck decodes an app bundle from stdin with core/bundle, the same
// decoder the server and the wasm client use, and prints its canonical
// encoding. It exits non-zero with the decoder's reason when the bundle is
// refused. The bindings' tests run it on bundles compiled by the TS DSL.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/jazzgo/jazz-tools/core/bundle"
)

func main() {
	data, err := io.ReadAll(io.LimitReader(os.Stdin, bundle.MaxSize+1))
	if err != nil {
		fmt.Fprintln(os.Stderr, "gocheck:", err)
		os.Exit(2)
	}
	b, err := bundle.Decode(data)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gocheck:", err)
		os.Exit(1)
	}
	out, err := b.Encode()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gocheck:", err)
		os.Exit(1)
	}
	os.Stdout.Write(append(out, '\n'))
}
