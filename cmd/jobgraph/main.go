// Command jobgraph is the jobgraph server and its command-line tools:
//
//	jobgraph server    serve the API (and, later, the engine and a worker)
//	jobgraph migrate   bring the database schema up to date and exit
//	jobgraph version   print the version
//
// Settings come from flags, JOBGRAPH_* environment variables and an optional
// YAML file; see package config for the reference.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ()))
}

// run executes one command line and returns the process exit code. Errors
// are printed as one line on stderr.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	root := &cobra.Command{
		Use:           "jobgraph",
		Short:         "jobgraph runs commands, scripts and file pushes on fleets of hosts",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(serverCommand(stderr, environ), migrateCommand(stdout, stderr, environ),
		adminCommand(stdin, stdout, stderr, environ), pluginCommand(stdout), workerCommand(stderr, environ),
		versionCommand(stdout))
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "jobgraph: %s\n", oneLine(err.Error()))
		var usage usageError
		if errors.As(err, &usage) {
			return 2
		}
		return 1
	}
	return 0
}

// oneLine joins the non-blank lines of an error message with "; ", since
// errors.Join (several bad settings) and cobra's hints span several lines.
func oneLine(msg string) string {
	var parts []string
	for line := range strings.Lines(msg) {
		if line = strings.TrimSpace(line); line != "" {
			parts = append(parts, line)
		}
	}
	return strings.Join(parts, "; ")
}

// usageError marks an error in the command line itself.
type usageError struct{ error }

func versionCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(*cobra.Command, []string) {
			fmt.Fprintf(stdout, "jobgraph %s\n", version)
		},
	}
}
