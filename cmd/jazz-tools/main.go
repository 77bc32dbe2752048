// Command jazz-tools runs the sync server and publishes app bundles to it.
//
//	jazz-tools server APP_ID [flags]   run the sync server (docs/server.md)
//	jazz-tools deploy APP_ID [flags]   publish a bundle to a running server
//	jazz-tools version                 print the version
//
// Every flag can also come from an environment variable, JAZZ_ followed by
// the flag name in upper case with dashes as underscores (--data-dir is
// JAZZ_DATA_DIR); a flag on the command line wins.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}
