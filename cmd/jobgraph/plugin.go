package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/jobgraph/jobgraph/plugins/builtin"
	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// pluginCommand is `jobgraph plugin`: the built-in executors, which the
// plugin host runs out of process by re-executing this binary as
// `jobgraph plugin serve NAME`.
func pluginCommand(stdout io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "plugin",
		Short: "Serve or list the built-in executor plugins",
	}
	cmd.AddCommand(pluginServeCommand(), pluginListCommand(stdout))
	return cmd
}

func pluginServeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "serve NAME",
		Short: "Serve a built-in executor as a plugin process (jobgraph runs this itself)",
		Long: "Serves the built-in executor NAME over the executor plugin protocol on this process's\n" +
			"stdout, as the plugin host expects; it refuses to run without the host's handshake.",
		Args: func(cmd *cobra.Command, args []string) error {
			if err := cobra.ExactArgs(1)(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		},
		RunE: func(_ *cobra.Command, args []string) error {
			executors := builtin.Executors()
			factory, ok := executors[args[0]]
			if !ok {
				return usageError{fmt.Errorf("no built-in executor %q (built-ins: %s)", args[0], strings.Join(slices.Sorted(maps.Keys(executors)), ", "))}
			}
			// go-plugin talks to the host on the real stdout and stderr, not
			// the writers run was given, and exits the process when the
			// host is done.
			sdk.Serve(factory())
			return nil
		},
	}
}

func pluginListCommand(stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the built-in executors",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			executors := builtin.Executors()
			w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tVERSION\tACTIONS\tDESCRIPTION")
			for _, name := range slices.Sorted(maps.Keys(executors)) {
				info, err := executors[name]().Describe(cmd.Context())
				if err != nil {
					return fmt.Errorf("describe %s: %w", name, err)
				}
				var actions []string
				for _, a := range info.Actions {
					actions = append(actions, a.Name)
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", name, info.Version, strings.Join(actions, ","), info.Description)
			}
			return w.Flush()
		},
	}
}
