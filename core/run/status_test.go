package run

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The tables as the tests expect them, written out pair by pair so that a
// change to the code's tables has to be made twice, on purpose.
var (
	wantRun = map[RunStatus][]RunStatus{
		RunWaitingApproval: {RunQueued, RunCanceled, RunTimedOut},
		RunQueued:          {RunRunning, RunFailed, RunCanceled},
		RunRunning:         {RunSucceeded, RunFailed, RunCanceled, RunTimedOut},
	}
	wantStep = map[StepStatus][]StepStatus{
		StepPending:         {StepRunning, StepWaitingApproval, StepSkipped, StepCanceled},
		StepRunning:         {StepSucceeded, StepFailed, StepCanceled, StepTimedOut},
		StepWaitingApproval: {StepSucceeded, StepFailed, StepCanceled, StepTimedOut},
	}
	wantTask = map[TaskStatus][]TaskStatus{
		TaskPending: {TaskQueued, TaskCanceled, TaskError},
		TaskQueued:  {TaskRunning, TaskCanceled, TaskError, TaskLost},
		TaskRunning: {TaskQueued, TaskSucceeded, TaskFailed, TaskCanceled, TaskTimedOut, TaskError, TaskLost},
	}
)

func walk[S interface {
	~string
	Final() bool
	Valid() bool
	CanTransitionTo(S) bool
}](t *testing.T, all []S, want map[S][]S) {
	t.Helper()
	seen := map[S]bool{}
	for _, from := range all {
		require.True(t, from.Valid(), "%s", from)
		require.False(t, seen[from], "%s listed twice", from)
		seen[from] = true
		for _, to := range all {
			expect := false
			for _, w := range want[from] {
				expect = expect || w == to
			}
			require.Equal(t, expect, from.CanTransitionTo(to), "%s → %s", from, to)
		}
		require.Equal(t, len(want[from]) == 0, from.Final(), "%s final", from)
	}
	var bogus S = "bogus"
	require.False(t, bogus.Valid())
	require.False(t, bogus.Final())
	require.False(t, bogus.CanTransitionTo(all[0]))
	require.False(t, all[0].CanTransitionTo(bogus))
}

func TestTransitionTables(t *testing.T) {
	t.Parallel()
	t.Run("run", func(t *testing.T) { t.Parallel(); walk(t, RunStatuses(), wantRun) })
	t.Run("step", func(t *testing.T) { t.Parallel(); walk(t, StepStatuses(), wantStep) })
	t.Run("task", func(t *testing.T) { t.Parallel(); walk(t, TaskStatuses(), wantTask) })
}

func TestCheckTransition(t *testing.T) {
	t.Parallel()
	require.NoError(t, CheckTransition([]TaskStatus{TaskQueued, TaskRunning}, TaskCanceled))
	require.ErrorIs(t, CheckTransition([]TaskStatus{TaskPending, TaskRunning}, TaskSucceeded), ErrInvalidTransition)
	require.ErrorIs(t, CheckTransition([]RunStatus{}, RunRunning), ErrInvalidTransition)
	require.ErrorIs(t, CheckTransition([]StepStatus{StepSucceeded}, StepRunning), ErrInvalidTransition)
}

// renderTable writes a transition table as doc.go shows it: a comment
// heading, then one code line per state.
func renderTable[S interface {
	~string
	Final() bool
	CanTransitionTo(S) bool
}](b *strings.Builder, title string, all []S) {
	fmt.Fprintf(b, "// %s:\n//\n", title)
	for _, from := range all {
		if from.Final() {
			fmt.Fprintf(b, "//\t%-10s final\n", from)
			continue
		}
		var to []string
		for _, s := range all {
			if from.CanTransitionTo(s) {
				to = append(to, string(s))
			}
		}
		fmt.Fprintf(b, "//\t%-10s → %s\n", from, strings.Join(to, ", "))
	}
}

// TestDocumentedTables checks that doc.go shows the tables the code has.
// On a mismatch it prints the block to paste.
func TestDocumentedTables(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	renderTable(&b, "Run", RunStatuses())
	b.WriteString("//\n")
	renderTable(&b, "Step run", StepStatuses())
	b.WriteString("//\n")
	renderTable(&b, "Task", TaskStatuses())
	doc, err := os.ReadFile("doc.go")
	require.NoError(t, err)
	if !strings.Contains(string(doc), b.String()) {
		t.Fatalf("doc.go does not show the transition tables of the code; paste:\n%s", b.String())
	}
}
