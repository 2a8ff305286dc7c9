package host

import (
	"errors"
	"fmt"
	"strconv"
)

// The sentinel errors of the package. Test with errors.Is: Host methods wrap
// them in a *PluginError that names the plugin.
var (
	// ErrUnknownPlugin: no plugin is registered under that name.
	ErrUnknownPlugin = errors.New("unknown executor plugin")
	// ErrUnknownAction: the plugin does not offer that action.
	ErrUnknownAction = errors.New("unknown action")
	// ErrNotStarted: the host was used before Start.
	ErrNotStarted = errors.New("plugin host not started")
	// ErrClosed: the host was stopped. Tasks in flight when it stopped end
	// with an error wrapping both ErrClosed and sdk.ErrPluginExited, so that
	// the engine may retry them elsewhere.
	ErrClosed = errors.New("plugin host stopped")
	// ErrChecksumMismatch: the plugin binary's SHA-256 is not the one
	// registered. go-plugin's own checksum error is wrapped alongside.
	ErrChecksumMismatch = errors.New("plugin binary checksum mismatch")
	// ErrBackoff: the plugin crashed or failed to start recently and will
	// not be started again before its backoff has passed. The error also
	// wraps the last failure (sdk.ErrPluginExited after a crash).
	ErrBackoff = errors.New("plugin is backing off before its next start")
	// ErrBadManifest: a plugin manifest that does not parse or is invalid.
	ErrBadManifest = errors.New("invalid plugin manifest")
)

// PluginError is what Host methods return when something about one plugin
// went wrong: which plugin, what the host was doing, and why. Err carries
// the cause: go-plugin's errors for a failed start, sdk.ErrPluginExited for
// a crash, *sdk.ProtocolError for a plugin that broke the protocol, the
// caller's context error for a cancelled call, or one of the sentinels
// above.
type PluginError struct {
	Plugin string // the registered name
	Op     string // "register", "start", "describe", "validate", "execute", "health check"
	Err    error
}

func (e *PluginError) Error() string {
	return "executor plugin " + strconv.Quote(e.Plugin) + ": " + e.Op + ": " + e.Err.Error()
}

func (e *PluginError) Unwrap() error { return e.Err }

func pluginErr(name, op string, err error) error {
	if err == nil {
		return nil
	}
	if pe, ok := err.(*PluginError); ok && pe.Plugin == name {
		return err // already names the plugin
	}
	return &PluginError{Plugin: name, Op: op, Err: err}
}

func pluginErrf(name, op, format string, args ...any) error {
	return &PluginError{Plugin: name, Op: op, Err: fmt.Errorf(format, args...)}
}
