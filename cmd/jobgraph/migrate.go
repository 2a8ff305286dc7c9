package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/jobgraph/jobgraph/core/store"
)

func migrateCommand(stdout, stderr io.Writer, environ []string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Bring the database schema up to date and exit",
		Long: "Applies the migrations this binary knows that the database lacks. The server does the same\n" +
			"on start; several replicas may run it at once (on MySQL a lock serialises them).",
		Args: cobra.NoArgs,
	}
	addConfigFlags(cmd.Flags())
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		cfg, err := loadConfig(cmd.Flags(), environ)
		if err != nil {
			return usageError{err}
		}
		log := newLogger(cfg, stderr)
		st, err := store.Open(cmd.Context(), store.Options{DSN: cfg.DB, DataDir: cfg.DataDir, Logger: log})
		if err != nil {
			return err
		}
		defer st.Close()
		res, err := st.Migrate(cmd.Context())
		if err != nil {
			return err
		}
		if len(res.Applied) == 0 {
			fmt.Fprintf(stdout, "schema is up to date at version %d\n", res.To)
			return nil
		}
		fmt.Fprintf(stdout, "migrated schema from version %d to %d:\n", res.From, res.To)
		for _, m := range res.Applied {
			fmt.Fprintf(stdout, "  %s\n", m)
		}
		return nil
	}
	return cmd
}
