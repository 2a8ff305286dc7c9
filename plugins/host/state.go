package host

import "time"

// State is where a registered plugin is in its lifecycle. Allowed moves are
// in stateTransitions; see the package documentation for the diagram.
type State string

// The states of a plugin.
const (
	// StateNotStarted: registered; no process has been started yet.
	StateNotStarted State = "not-started"
	// StateStarting: a process is being started, handshaken and described.
	StateStarting State = "starting"
	// StateReady: a process is up and serving tasks.
	StateReady State = "ready"
	// StateStopped: the process was stopped because it went unused for
	// IdleTimeout, or because the host stopped. It starts again on next use
	// (unless the host stopped), without backoff.
	StateStopped State = "stopped"
	// StateCrashed: the process exited, lost its connection or failed a
	// health check. It starts again on the first use after its backoff.
	StateCrashed State = "crashed"
	// StateFailed: the last start failed (checksum, handshake, protocol
	// version, describe...). It is tried again on the first use after its
	// backoff.
	StateFailed State = "failed"
)

// States lists every state.
func States() []State {
	return []State{StateNotStarted, StateStarting, StateReady, StateStopped, StateCrashed, StateFailed}
}

var stateTransitions = map[State][]State{
	StateNotStarted: {StateStarting, StateStopped},
	StateStarting:   {StateReady, StateFailed, StateStopped},
	StateReady:      {StateCrashed, StateStopped},
	StateStopped:    {StateStarting, StateStopped},
	StateCrashed:    {StateStarting, StateStopped},
	StateFailed:     {StateStarting, StateStopped},
}

// CanTransitionTo reports whether a plugin may move from s to next.
func (s State) CanTransitionTo(next State) bool {
	for _, n := range stateTransitions[s] {
		if n == next {
			return true
		}
	}
	return false
}

// Status is a snapshot of one registered plugin, for `jobgraph plugin list`
// and the console.
type Status struct {
	Name    string
	BuiltIn bool
	State   State
	// Version, Description and Actions come from the plugin's last
	// successful Describe; empty before the first start.
	Version     string
	Description string
	Actions     []string
	// PID is the process ID of the live process, 0 when there is none.
	PID int
	// StartedAt is when the live process was started (zero when none).
	StartedAt time.Time
	// InFlight is the number of calls (Execute, Validate, Describe) running
	// on the live process.
	InFlight int
	// Restarts counts the processes started after a crash or a failed
	// start. Stops for idleness do not count.
	Restarts int
	// LastError is the last crash or start failure; it is kept after the
	// plugin recovers, for diagnosis. Nil when there was none.
	LastError error
	// RetryAt is the earliest time of the next start after a crash or a
	// failed start (zero when not backing off).
	RetryAt time.Time
}
