package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jazzgo/jazz-tools/core/bundle"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/server"
)

// deployOptions is the parsed command line of "jazz-tools deploy".
type deployOptions struct {
	appID       string
	serverURL   string
	adminSecret string
	bundleFile  string
	force       bool
}

func deployFlags(o *deployOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("deploy", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&o.serverURL, "server", "", "base `URL` of the sync server, e.g. http://127.0.0.1:1625")
	fs.StringVar(&o.adminSecret, "admin-secret", "", "the server's admin `SECRET`")
	fs.StringVar(&o.bundleFile, "bundle", "", "the app bundle JSON `FILE` to publish")
	fs.BoolVar(&o.force, "force", false, "publish a schema change the server refuses as unsafe for stored rows or old clients (docs/schema-changes.md)")
	return fs
}

func parseDeploy(args []string, env func(string) string) (deployOptions, error) {
	var o deployOptions
	pos, err := parseFlags(deployFlags(&o), args, env)
	if err != nil {
		var ue *usageError
		if errors.Is(err, flag.ErrHelp) || errors.As(err, &ue) {
			return o, err
		}
		return o, usagef("%v", err)
	}
	if o.appID, err = appIDArg(pos, env); err != nil {
		return o, err
	}
	var missing []string
	for _, m := range []struct{ v, name string }{{o.serverURL, "--server"}, {o.adminSecret, "--admin-secret"}, {o.bundleFile, "--bundle"}} {
		if m.v == "" {
			missing = append(missing, m.name)
		}
	}
	if len(missing) > 0 {
		return o, usagef("missing %s", strings.Join(missing, ", "))
	}
	if u, err := url.Parse(o.serverURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return o, usagef("--server %q is not an http:// or https:// URL with a host", o.serverURL)
	}
	return o, nil
}

func deployHelp(w io.Writer) {
	var o deployOptions
	fmt.Fprint(w, `Usage: jazz-tools deploy APP_ID --server URL --admin-secret SECRET --bundle FILE [--force]

Publishes an app bundle (schema and permission policies) to a running server.
Open connections are closed with "schema_changed" so clients resubscribe under
the new bundle. Prints the server's answer; exits 1 if it refused.

The server checks a schema change against the stored rows and the previous
bundle, and refuses one that would break rows or clients still running the
previous schema, printing each problem with its code and fix; --force
publishes it anyway where that can work (docs/schema-changes.md).

Flags (each but --force also read from the environment variable shown; a flag wins):
`)
	printFlags(w, deployFlags(&o))
}

func runDeploy(args []string, env func(string) string, stdout, stderr io.Writer) int {
	o, err := parseDeploy(args, env)
	if errors.Is(err, flag.ErrHelp) {
		deployHelp(stdout)
		return exitOK
	}
	if err != nil {
		return report(stderr, "deploy", err)
	}
	raw, err := os.ReadFile(o.bundleFile)
	if err != nil {
		return report(stderr, "deploy", err)
	}
	// Checked here too so a broken bundle fails before any network call,
	// with the same message the server would give.
	if _, err := bundle.Decode(raw); err != nil {
		return report(stderr, "deploy", fmt.Errorf("%s: %w", o.bundleFile, err))
	}
	target := strings.TrimRight(o.serverURL, "/") + "/apps/" + url.PathEscape(o.appID) + "/admin/bundle"
	if o.force {
		target += "?force=true"
	}
	req, err := http.NewRequest(http.MethodPut, target, bytes.NewReader(raw))
	if err != nil {
		return report(stderr, "deploy", usagef("--server: %v", err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(server.HeaderAdminSecret, o.adminSecret)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		return report(stderr, "deploy", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	fmt.Fprintln(stdout, strings.TrimSpace(string(body)))
	var answer deployAnswer
	_ = json.Unmarshal(body, &answer) // a body that is not one leaves it empty
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "jazz-tools deploy: the server refused the bundle: HTTP %d\n", resp.StatusCode)
		if answer.Error == "unsafe_schema_change" {
			printBreaks(stderr, "refused", answer.Breaks)
			if answer.Forceable {
				fmt.Fprintln(stderr, "Fix the schema as suggested, or run again with --force to publish it anyway.")
			} else {
				fmt.Fprintln(stderr, "--force cannot publish this: stored values would not fit their column's new type.")
			}
		}
		return exitError
	}
	for _, f := range answer.Filled {
		fmt.Fprintf(stderr, "jazz-tools deploy: wrote the default of %s.%s into %d existing rows\n", f.Table, f.Column, f.Rows)
	}
	printBreaks(stderr, "forced", answer.Forced)
	return exitOK
}

// deployAnswer is what the bundle route answers (docs/server.md).
type deployAnswer struct {
	Error     string         `json:"error"`
	Forceable bool           `json:"forceable"`
	Breaks    []schema.Break `json:"breaks"`
	Filled    []schema.Fill  `json:"filled"`
	Forced    []schema.Break `json:"forced"`
}

// printBreaks lists schema breaks one per line with their codes, then
// their fixes.
func printBreaks(w io.Writer, what string, breaks []schema.Break) {
	for _, b := range breaks {
		where := b.Table
		if b.Column != "" {
			where += "." + b.Column
		}
		fmt.Fprintf(w, "  %s %s [%s]: %s\n", what, where, b.Code, b.Problem)
		if what == "refused" {
			fmt.Fprintf(w, "    fix: %s\n", b.Fix)
		}
	}
}
