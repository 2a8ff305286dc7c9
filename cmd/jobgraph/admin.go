package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jobgraph/jobgraph/core/audit"
	"github.com/jobgraph/jobgraph/core/identity"
)

func adminCommand(stdin io.Reader, stdout, stderr io.Writer, environ []string) *cobra.Command {
	admin := &cobra.Command{
		Use:   "admin",
		Short: "Administer users from the command line (for scripts and recovery)",
	}
	create := &cobra.Command{
		Use:   "create-user",
		Short: "Create a user, optionally a system admin",
		Long: "Creates a local user directly in the database. The password is read from standard input with\n" +
			"--password-stdin (one line), or generated and printed once.",
		Args: cobra.NoArgs,
	}
	addConfigFlags(create.Flags())
	username := create.Flags().String("username", "", "the new user's login `name` (required)")
	displayName := create.Flags().String("display-name", "", "the user's display `name`")
	makeAdmin := create.Flags().Bool("admin", false, "grant the system admin role")
	passwordStdin := create.Flags().Bool("password-stdin", false, "read the password from standard input")
	create.RunE = func(cmd *cobra.Command, _ []string) error {
		if *username == "" {
			return usageError{fmt.Errorf("--username is required")}
		}
		cfg, err := loadConfig(cmd.Flags(), environ)
		if err != nil {
			return usageError{err}
		}
		password, generated := "", false
		if *passwordStdin {
			line, err := bufio.NewReader(stdin).ReadString('\n')
			if err != nil && err != io.EOF {
				return fmt.Errorf("read password: %w", err)
			}
			password = strings.TrimRight(line, "\r\n")
		} else {
			password, generated = rand.Text(), true
		}
		log := newLogger(cfg, stderr)
		a, err := openApp(cmd.Context(), cfg, log)
		if err != nil {
			return err
		}
		defer a.store.Close()
		u, err := createUser(cmd.Context(), a, identity.CreateUserInput{Username: *username, DisplayName: *displayName, Password: password}, *makeAdmin, "jobgraph admin create-user")
		if err != nil {
			return err
		}
		role := "user"
		if *makeAdmin {
			role = "admin"
		}
		fmt.Fprintf(stdout, "created %s %s (%s)\n", role, u.Username, u.ID)
		if generated {
			fmt.Fprintf(stdout, "password: %s\n", password)
		}
		return nil
	}
	admin.AddCommand(create)
	return admin
}

// createUser creates a user, and makes it an admin if asked, in one
// transaction with its audit record, which names actor (the command).
func createUser(ctx context.Context, a *app, in identity.CreateUserInput, makeAdmin bool, actor string) (identity.User, error) {
	var u identity.User
	err := a.store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if u, err = a.identity.CreateUser(ctx, in); err != nil {
			return err
		}
		if makeAdmin {
			if err := a.authz.GrantAdmin(ctx, u.ID); err != nil {
				return err
			}
		}
		return a.audit.Record(ctx, audit.Event{
			Action: "createUser", ActorName: actor, ObjectKind: "user", ObjectID: u.ID, Outcome: audit.Allowed,
		})
	})
	return u, err
}
