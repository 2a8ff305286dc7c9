package ssh

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// action is one of the executor's actions with its compiled schema.
type action struct {
	sdk.Action
	schema *sdk.Schema
}

// connParams are the parameters every action takes: how to reach and trust
// the host.
type connParams struct {
	KnownHosts    string     `json:"known_hosts"`
	HostKeyPolicy string     `json:"host_key_policy"`
	Jump          *jumpParam `json:"jump"`
	Agent         bool       `json:"agent"`
}

type jumpParam struct {
	Address  string `json:"address"`
	Port     int    `json:"port"`
	Username string `json:"username"`
}

type sudoParam struct {
	Enabled bool   `json:"enabled"`
	User    string `json:"user"`
}

// params is the union of every action's parameters; each action's schema
// says which it takes (additionalProperties false), so DecodeParams of the
// union accepts exactly what the schema accepts.
type params struct {
	connParams
	// command
	Command string `json:"command"`
	PTY     bool   `json:"pty"`
	// script
	Script      string   `json:"script"`
	Interpreter string   `json:"interpreter"`
	Args        []string `json:"args"`
	// command and script
	Env  map[string]string `json:"env"`
	Dir  string            `json:"dir"`
	Sudo *sudoParam        `json:"sudo"`
	// push: content (a file) or archive (a directory)
	Content *string `json:"content"`
	Archive *string `json:"archive"`
	Dest    string  `json:"dest"`
	Mode    string  `json:"mode"`
	Owner   string  `json:"owner"`
	// fetch
	Path     string `json:"path"`
	MaxBytes int64  `json:"max_bytes"`

	content []byte  // Content decoded
	archive []byte  // Archive decoded
	tar     tarInfo // what Archive holds
	mode    uint32  // Mode parsed
}

// The policies for a host key that is not in known_hosts.
const (
	policyStrict    = "strict"
	policyAcceptNew = "accept-new"
)

// DefaultMaxFetch is fetch's default max_bytes.
const DefaultMaxFetch = 16 << 20

// The schemas' shared pieces. Their descriptions are what the console
// shows next to each field.
const (
	connProperties = `
		"known_hosts": {"type": "string", "description": "OpenSSH known_hosts lines trusted for the target (and the jump host), e.g. \"[10.0.0.5]:22 ssh-ed25519 AAAA...\". Hashed host names and @cert-authority lines work. The client offers only the key types listed for the host."},
		"host_key_policy": {"type": "string", "enum": ["strict", "accept-new"], "default": "strict", "description": "strict: the host key must be in known_hosts. accept-new: a host not in known_hosts is trusted on first use and its key is exported as the output host_key (authorized_keys format) for jobgraph to record; a key that differs from a known one is still refused."},
		"jump": {
			"type": "object",
			"description": "A jump host (bastion) to reach the target through, with the task's credential; its host key is checked against known_hosts with the same policy.",
			"properties": {
				"address": {"type": "string", "minLength": 1, "description": "The jump host's DNS name or IP address."},
				"port": {"type": "integer", "minimum": 1, "maximum": 65535, "default": 22, "description": "The jump host's SSH port."},
				"username": {"type": "string", "minLength": 1, "description": "The user on the jump host; the credential's user when unset."}
			},
			"required": ["address"],
			"additionalProperties": false
		},
		"agent": {"type": "boolean", "default": false, "description": "Also offer the keys of the SSH agent at $SSH_AUTH_SOCK. jobgraph starts plugins with a minimal environment (PATH, HOME, TMPDIR, LANG), so the agent is only reachable when the executor runs with SSH_AUTH_SOCK set."}`
	envSchema = `{
		"type": "object",
		"description": "Environment variables exported for the command (in its shell, so the server's AcceptEnv does not matter). Names are letters, digits and _, not starting with a digit.",
		"additionalProperties": {"type": "string"}
	}`
	dirSchema  = `{"type": "string", "minLength": 1, "description": "The absolute path of the remote working directory; the login user's home when unset. The task fails if it does not exist."}`
	sudoSchema = `{
		"type": "object",
		"description": "Run as another user with sudo. A password prompt is answered with the credential's password (credential kind password); with a key credential, sudo must not ask for one (NOPASSWD).",
		"properties": {
			"enabled": {"type": "boolean", "default": false, "description": "Run through sudo."},
			"user": {"type": "string", "minLength": 1, "default": "root", "description": "The user to run as."}
		},
		"additionalProperties": false
	}`
)

// outputsHelp ends the descriptions of command and script.
const outputsHelp = " It exports exit_code, and any output the command sets by printing a line ::set-output name=KEY::VALUE on stdout (KEY: letters, digits, _ and -)."

func objectSchema(props, required string) json.RawMessage {
	return sdk.MustSchema(`{"type": "object", "properties": {` + props + `,` + connProperties + `}, "required": [` + required + `], "additionalProperties": false}`)
}

func actions() []*action {
	return []*action{
		{Action: sdk.Action{
			Name:        "command",
			Description: "Run a command line on the target with /bin/sh -c, streaming its output; it succeeds when it exits 0." + outputsHelp,
			ParamsSchema: objectSchema(`
				"command": {"type": "string", "minLength": 1, "description": "The command line to run with /bin/sh -c, e.g. \"df -h /var\"."},
				"pty": {"type": "boolean", "default": false, "description": "Run in a pseudo-terminal (for programs that need one); stderr is then merged into stdout."},
				"env": `+envSchema+`,
				"dir": `+dirSchema+`,
				"sudo": `+sudoSchema, `"command"`),
		}},
		{Action: sdk.Action{
			Name:        "script",
			Description: "Upload a script over SFTP to a private temporary file (mode 0700), run it with an interpreter on the target, and remove it, also on failure or cancel." + outputsHelp,
			ParamsSchema: objectSchema(`
				"script": {"type": "string", "minLength": 1, "description": "The script's text."},
				"interpreter": {"type": "string", "minLength": 1, "default": "/bin/sh", "description": "The program that runs the script, given the script's path as its first argument: a path or a name looked up in the remote PATH, e.g. \"python3\"."},
				"args": {"type": "array", "items": {"type": "string"}, "description": "Arguments passed to the script after its path."},
				"env": `+envSchema+`,
				"dir": `+dirSchema+`,
				"sudo": `+sudoSchema, `"script"`),
		}},
		{Action: sdk.Action{
			Name:        "push",
			Description: "Upload a file (content) or a directory tree (archive, a tar) over SFTP next to its destination, verify its SHA-256 on the target (sha256sum), set its mode and owner, then move it into place: a file by an atomic rename, a directory by extracting it into a fresh sibling and swapping it in, so dest is always the old tree or the new one, never a half-written one.",
			ParamsSchema: objectSchema(`
				"content": {"type": "string", "contentEncoding": "base64", "description": "Push a file: its content, base64-encoded (standard alphabet, padded). Give content or archive, not both."},
				"archive": {"type": "string", "contentEncoding": "base64", "description": "Push a directory: a tar archive of its content, gzip-compressed or not (told by its magic bytes), base64-encoded (standard alphabet, padded). Entries are relative to dest; absolute names, .. components, devices and links leading outside the tree are refused before connecting. Extracted with the archive's permission bits but not its owners. Give content or archive, not both."},
				"dest": {"type": "string", "minLength": 1, "description": "The absolute path of the file (with content) or directory (with archive) on the target; its parent directory must exist and be writable by the login user. An existing file is replaced atomically; an existing directory is replaced whole (its old content removed) by two renames, old tree aside then new tree in."},
				"mode": {"type": "string", "pattern": "^0?[0-7]{3,4}$", "description": "Permission bits in octal, e.g. \"0640\": of the file (default 0644), or of the top directory with archive (default 0755; the entries keep the archive's)."},
				"owner": {"type": "string", "minLength": 1, "description": "The owner as user or user:group, set before the file or tree is moved into place (chown, chown -R for a directory); needs the login user to be allowed to chown, usually root."}`, `"dest"`),
		}},
		{Action: sdk.Action{
			Name:        "fetch",
			Description: "Read a file from the target over SFTP; its content streams as stdout, and its SHA-256 and size are exported as the outputs sha256 and bytes.",
			ParamsSchema: objectSchema(`
				"path": {"type": "string", "minLength": 1, "description": "The absolute path of the file on the target."},
				"max_bytes": {"type": "integer", "minimum": 1, "default": 16777216, "description": "The largest file accepted; a bigger one fails the task before anything is sent."}`, `"path"`),
		}},
	}
}

// envName is what Validate accepts as a variable name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// parse checks params for the action named name, against its schema and
// then the rules a schema cannot say, and returns them decoded or the
// problems found.
func (e *Executor) parse(name string, raw json.RawMessage) (*params, []sdk.FieldError) {
	a, ok := e.actions[name]
	if !ok {
		return nil, []sdk.FieldError{{Message: fmt.Sprintf("the ssh executor has no action %q (it has: %s)", name, strings.Join(slices.Sorted(maps.Keys(e.actions)), ", "))}}
	}
	if problems := a.schema.Validate(raw); len(problems) > 0 {
		return nil, problems
	}
	var p params
	if err := (sdk.Task{Action: name, Params: raw}).DecodeParams(&p); err != nil {
		return nil, []sdk.FieldError{{Message: err.Error()}}
	}
	var problems []sdk.FieldError
	absolute := func(field, v string) {
		if v != "" && !path.IsAbs(v) {
			problems = append(problems, sdk.FieldError{Field: field, Message: fmt.Sprintf("%q is not an absolute path", v)})
		}
	}
	absolute("dir", p.Dir)
	absolute("dest", p.Dest)
	absolute("path", p.Path)
	for _, k := range slices.Sorted(maps.Keys(p.Env)) {
		if !envName.MatchString(k) {
			problems = append(problems, sdk.FieldError{Field: "env." + k, Message: fmt.Sprintf("%q is not a valid variable name (letters, digits and _, not starting with a digit)", k)})
		}
	}
	if name == "push" {
		problems = append(problems, p.parsePush()...)
	}
	if p.MaxBytes == 0 {
		p.MaxBytes = DefaultMaxFetch
	}
	if p.HostKeyPolicy == "" {
		p.HostKeyPolicy = policyStrict
	}
	if p.Jump != nil && p.Jump.Port == 0 {
		p.Jump.Port = 22
	}
	return &p, problems
}

// parsePush decodes and checks push's content or archive, and its mode.
func (p *params) parsePush() []sdk.FieldError {
	var problems []sdk.FieldError
	switch {
	case p.Content != nil && p.Archive != nil:
		problems = append(problems, sdk.FieldError{Field: "archive", Message: "content and archive exclude each other: give content to push a file, archive to push a directory"})
	case p.Content == nil && p.Archive == nil:
		problems = append(problems, sdk.FieldError{Field: "content", Message: "give content to push a file, or archive to push a directory"})
	case p.Content != nil:
		b, err := base64.StdEncoding.DecodeString(*p.Content)
		if err != nil {
			problems = append(problems, sdk.FieldError{Field: "content", Message: "not valid base64: " + err.Error()})
		}
		p.content = b
		if strings.HasSuffix(p.Dest, "/") {
			problems = append(problems, sdk.FieldError{Field: "dest", Message: "must name a file, not a directory"})
		}
	default:
		b, err := base64.StdEncoding.DecodeString(*p.Archive)
		if err != nil {
			problems = append(problems, sdk.FieldError{Field: "archive", Message: "not valid base64: " + err.Error()})
		} else if info, err := inspectArchive(b); err != nil {
			problems = append(problems, sdk.FieldError{Field: "archive", Message: err.Error()})
		} else {
			p.archive, p.tar = b, info
		}
		// The temporary paths are siblings named after dest.
		if p.Dest != "" && path.IsAbs(p.Dest) && (p.Dest == "/" || path.Clean(p.Dest) != p.Dest) {
			problems = append(problems, sdk.FieldError{Field: "dest", Message: fmt.Sprintf("%q must be a clean path below /, without a trailing /, . or .. components", p.Dest)})
		}
	}
	p.mode = 0o644
	if p.Archive != nil {
		p.mode = 0o755
	}
	if p.Mode != "" {
		m, err := strconv.ParseUint(p.Mode, 8, 32)
		if err != nil || m > 0o7777 {
			problems = append(problems, sdk.FieldError{Field: "mode", Message: fmt.Sprintf("%q is not an octal mode", p.Mode)})
		}
		p.mode = uint32(m)
	}
	return problems
}
