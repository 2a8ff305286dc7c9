package winrm

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
	"time"

	"github.com/jobgraph/jobgraph/plugins/sdk"
)

// conn is how to reach and authenticate to the target: the parameters
// both actions share.
type conn struct {
	HTTPS              bool   `json:"https"`
	CAPEM              string `json:"ca_pem"`
	InsecureSkipVerify bool   `json:"insecure_skip_verify"`
	Auth               string `json:"auth"`
	TimeoutMS          int    `json:"timeout_ms"`
}

// params are an action's decoded parameters.
type params struct {
	conn
	Command string   `json:"command"`
	Args    []string `json:"args"`
	Script  string   `json:"script"`
}

// Authentication schemes.
const (
	authBasic = "basic"
	authNTLM  = "ntlm"
)

// DefaultRequestTimeout is how long the executor waits to connect and for
// each answer of the host, unless timeout_ms says otherwise.
const DefaultRequestTimeout = 30 * time.Second

func (c conn) auth() string {
	if c.Auth == "" {
		return authNTLM
	}
	return c.Auth
}

func (c conn) requestTimeout() time.Duration {
	if c.TimeoutMS <= 0 {
		return DefaultRequestTimeout
	}
	return time.Duration(c.TimeoutMS) * time.Millisecond
}

// connProperties are the JSON Schema properties of conn. Their
// descriptions are what the console shows next to each field.
const connProperties = `
	"https": {"type": "boolean", "default": false, "description": "Connect over HTTPS (the target's port, default 5986) instead of HTTP (default 5985). Over HTTP, Basic authentication sends the password in clear and NTLM needs the host's AllowUnencrypted setting: prefer HTTPS."},
	"ca_pem": {"type": "string", "minLength": 1, "description": "PEM certificates of the CAs to trust for the host's HTTPS certificate, instead of the worker's system roots. HTTPS only."},
	"insecure_skip_verify": {"type": "boolean", "default": false, "description": "Do not verify the host's HTTPS certificate at all. Anyone on the path can then read the credential and the commands: for tests only. A warning is logged on every task."},
	"auth": {"type": "string", "enum": ["basic", "ntlm"], "default": "ntlm", "description": "How to authenticate with the credential (kind password: username and secret): ntlm (NTLMv2, a local or DOMAIN\\user account) or basic (local accounts only; the host's Basic setting must be on)."},
	"timeout_ms": {"type": "integer", "minimum": 1, "maximum": 3600000, "description": "How long to wait, in milliseconds, to connect and for each answer of the host (default 30000). The command's own run time is bounded by the task's timeout, not by this."}`

// outputsHelp ends the descriptions of the actions.
const outputsHelp = " It exports exit_code, and any output the command sets by printing a line ::set-output name=KEY::VALUE on stdout (KEY: letters, digits, _ and -)."

func actions() []sdk.Action {
	return []sdk.Action{
		{
			Name:        "command",
			Description: "Run a command in a cmd.exe shell on the Windows host over WinRM, streaming its stdout and stderr; the task fails unless it exits 0." + outputsHelp,
			ParamsSchema: sdk.MustSchema(`{
				"type": "object",
				"properties": {
					"command": {"type": "string", "minLength": 1, "description": "The command to run, as cmd.exe /c sees it, e.g. \"ipconfig /all\" or \"C:\\\\tools\\\\backup.exe\"."},
					"args": {"type": "array", "items": {"type": "string"}, "description": "Arguments, appended to the command line after a space each. WinRM passes them as they are: quote those with spaces (\"\\\"C:\\\\My Files\\\"\")."},
					` + connProperties + `
				},
				"required": ["command"],
				"additionalProperties": false
			}`),
		},
		{
			Name:        "powershell",
			Description: "Run a PowerShell script on the Windows host over WinRM (powershell.exe -EncodedCommand), streaming its stdout and stderr; the task fails unless it exits 0." + outputsHelp,
			ParamsSchema: sdk.MustSchema(`{
				"type": "object",
				"properties": {
					"script": {"type": "string", "minLength": 1, "description": "The script's text. It runs as powershell.exe -EncodedCommand (UTF-16LE, base64), with $ProgressPreference = 'SilentlyContinue'; end it with \"exit N\" to set the exit code. Errors arrive on stderr in PowerShell's CLIXML form."},
					` + connProperties + `
				},
				"required": ["script"],
				"additionalProperties": false
			}`),
		},
	}
}

// parse checks params for the action against its schema and the rules a
// schema cannot say, and decodes them.
func (e *Executor) parse(action string, raw json.RawMessage) (params, []sdk.FieldError) {
	schema, ok := e.schemas[action]
	if !ok {
		return params{}, []sdk.FieldError{{Message: fmt.Sprintf("the winrm executor has no action %q (it has: command, powershell)", action)}}
	}
	if problems := schema.Validate(raw); len(problems) > 0 {
		return params{}, problems
	}
	var p params
	if err := (sdk.Task{Action: action, Params: raw}).DecodeParams(&p); err != nil {
		return params{}, []sdk.FieldError{{Message: err.Error()}}
	}
	var problems []sdk.FieldError
	if p.CAPEM != "" {
		if !p.HTTPS {
			problems = append(problems, sdk.FieldError{Field: "ca_pem", Message: "a CA is only used over HTTPS: set https to true"})
		} else if _, err := certPool(p.CAPEM); err != nil {
			problems = append(problems, sdk.FieldError{Field: "ca_pem", Message: err.Error()})
		}
	}
	if p.InsecureSkipVerify && !p.HTTPS {
		problems = append(problems, sdk.FieldError{Field: "insecure_skip_verify", Message: "only means something over HTTPS: set https to true"})
	}
	if p.InsecureSkipVerify && p.CAPEM != "" {
		problems = append(problems, sdk.FieldError{Field: "insecure_skip_verify", Message: "set either ca_pem or insecure_skip_verify, not both"})
	}
	return p, problems
}

// certPool parses PEM certificates.
func certPool(pemText string) (*x509.CertPool, error) {
	pool := x509.NewCertPool()
	rest := []byte(pemText)
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		if strings.TrimSpace(string(rest)) != "" || pemText != "" {
			return nil, fmt.Errorf("no PEM CERTIFICATE block found")
		}
	}
	return pool, nil
}
