package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"sort"
	"strings"
	"syscall"

	"github.com/jazzgo/jazz-tools/server"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1 // the command ran and failed
	exitUsage = 2 // the command line was wrong
)

// version is set at build time with -ldflags "-X main.version=...";
// otherwise the module version from the build info is used.
var version = ""

const usageText = `jazz-tools: the Jazz sync server and its tools

Usage:
  jazz-tools server APP_ID [flags]   run the sync server
  jazz-tools deploy APP_ID [flags]   publish an app bundle to a running server
  jazz-tools version                 print the version

Run "jazz-tools server --help" or "jazz-tools deploy --help" for the flags.
Every flag can also be set with an environment variable JAZZ_<FLAG_NAME>
(for example --data-dir is JAZZ_DATA_DIR); a flag on the command line wins.
`

// usageError is a command line that cannot run; it exits with exitUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{msg: fmt.Sprintf(format, a...)} }

// run is the whole command, with its environment passed in so tests can
// drive it without a process.
func run(args []string, env func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usageText)
		return exitUsage
	}
	switch args[0] {
	case "server":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return runServer(ctx, args[1:], env, stdout, stderr)
	case "deploy":
		return runDeploy(args[1:], env, stdout, stderr)
	case "version", "--version", "-v":
		fmt.Fprintf(stdout, "jazz-tools %s (%s)\n", versionString(), runtime.Version())
		return exitOK
	case "help", "--help", "-h":
		fmt.Fprint(stdout, usageText)
		return exitOK
	default:
		fmt.Fprintf(stderr, "jazz-tools: unknown command %q\n\n%s", args[0], usageText)
		return exitUsage
	}
}

func versionString() string {
	bi, _ := debug.ReadBuildInfo()
	return versionFrom(version, bi)
}

// versionFrom picks the version to report: the one build.sh stamps with
// -ldflags; else the module version "go install ...@vX" records; else the
// commit "go build" in a git checkout records; else "(devel)", which only
// a plain "go build" outside git (or with -buildvcs=false) produces.
func versionFrom(stamped string, bi *debug.BuildInfo) string {
	if stamped != "" {
		return stamped
	}
	if bi == nil {
		return "(devel)"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "-dirty"
			}
		}
	}
	if rev != "" {
		return "devel-" + rev[:min(12, len(rev))] + dirty
	}
	return "(devel)"
}

// envName is the environment variable backing a flag.
func envName(flagName string) string {
	return "JAZZ_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parseFlags parses args into fs, allowing flags before and after the
// positional arguments (the seed docs put APP_ID first), then fills every
// flag not given on the command line from its environment variable.
func parseFlags(fs *flag.FlagSet, args []string, env func(string) string) (positional []string, err error) {
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			break
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
	given := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var bad error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || bad != nil || commandLineOnly[f.Name] {
			return
		}
		if v := env(envName(f.Name)); v != "" {
			if err := fs.Set(f.Name, v); err != nil {
				bad = usagef("%s=%q: %v", envName(f.Name), v, err)
			}
		}
	})
	return positional, bad
}

// commandLineOnly are the flags no environment variable sets: a forced
// deploy must be asked for where it is run, not left behind in a shell.
var commandLineOnly = map[string]bool{"force": true}

// printFlags documents every flag of fs with its environment variable.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	for _, n := range names {
		f := fs.Lookup(n)
		kind, usage := flag.UnquoteUsage(f)
		head := "  --" + n
		if kind != "" {
			head += " " + kind
		}
		if commandLineOnly[n] {
			fmt.Fprintf(w, "%s\n      %s\n      (command line only)", head, usage)
		} else {
			fmt.Fprintf(w, "%s\n      %s\n      env %s", head, usage, envName(n))
		}
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" {
			fmt.Fprintf(w, ", default %s", f.DefValue)
		}
		fmt.Fprintln(w)
	}
}

// report prints err and maps it to an exit code.
func report(stderr io.Writer, cmd string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
	}
	var ue *usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "jazz-tools %s: %v\n", cmd, err)
		fmt.Fprintf(stderr, "Usage: jazz-tools %s APP_ID [flags]\nRun \"jazz-tools %s --help\" for every flag.\n", cmd, cmd)
		return exitUsage
	}
	fmt.Fprintf(stderr, "jazz-tools %s: %v\n", cmd, err)
	return exitError
}

// appIDArg takes the command's one positional argument, APP_ID, falling back
// to $JAZZ_APP_ID, and checks it is an app id at all.
func appIDArg(pos []string, env func(string) string) (string, error) {
	var id string
	switch {
	case len(pos) == 1:
		id = pos[0]
	case len(pos) == 0 && env("JAZZ_APP_ID") != "":
		id = env("JAZZ_APP_ID")
	case len(pos) == 0:
		return "", usagef("missing APP_ID")
	default:
		return "", usagef("unexpected arguments after APP_ID: %s", strings.Join(pos[1:], " "))
	}
	if !server.ValidAppID(id) {
		return "", usagef("APP_ID %q is not an app id: it must be %s", id, server.AppIDRule)
	}
	return id, nil
}

// splitList reads a comma-separated flag value, dropping empty items.
func splitList(v string) []string {
	var items []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}
