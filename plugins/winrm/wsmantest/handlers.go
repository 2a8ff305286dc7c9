package wsmantest

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf16"
)

// DefaultHandlers returns the commands every Server knows unless a test
// replaces them:
//
//   - echo TEXT: writes TEXT and CRLF to stdout, as cmd.exe's echo (TEXT
//     is the rest of the line, verbatim).
//   - exit [/b] N: exits with code N (0 without one).
//   - more: copies stdin to stdout until the client ends stdin (a Send
//     with End="true"), or the command is stopped.
//   - powershell [-NoProfile] [-NonInteractive] -EncodedCommand BASE64
//     (also -enc, -e, and -Command TEXT): decodes the UTF-16LE script and
//     runs the tiny subset of PowerShell that RunPowerShell understands.
//
// Any other command fails as cmd.exe does: "'X' is not recognized as an
// internal or external command" on stderr, exit code 1.
func DefaultHandlers() map[string]Handler {
	return map[string]Handler{
		"echo":       echo,
		"exit":       exit,
		"more":       more,
		"powershell": powershell,
		"pwsh":       powershell,
	}
}

func echo(_ context.Context, p *Process) int {
	text := strings.TrimLeft(p.Line[len(strings.Fields(p.Line)[0]):], " \t")
	if text == "" {
		text = "ECHO is on."
	}
	fmt.Fprint(p.Stdout, text+"\r\n")
	return 0
}

func exit(_ context.Context, p *Process) int {
	args := p.Args
	if len(args) > 0 && strings.EqualFold(args[0], "/b") {
		args = args[1:]
	}
	if len(args) == 0 {
		return 0
	}
	code, err := strconv.Atoi(args[0])
	if err != nil {
		return 0 // cmd.exe treats a non-number as 0
	}
	return code
}

func more(ctx context.Context, p *Process) int {
	if _, err := io.Copy(p.Stdout, p.Stdin); err != nil && ctx.Err() == nil {
		fmt.Fprintf(p.Stderr, "more: %v\r\n", err)
		return 1
	}
	return 0
}

func notRecognized(_ context.Context, p *Process) int {
	name := p.Name
	if words := SplitCommandLine(p.Line); len(words) > 0 {
		name = words[0]
	}
	fmt.Fprintf(p.Stderr, "'%s' is not recognized as an internal or external command,\r\noperable program or batch file.\r\n", name)
	return 1
}

func powershell(ctx context.Context, p *Process) int {
	for i := 0; i < len(p.Args); i++ {
		switch strings.ToLower(p.Args[i]) {
		case "-encodedcommand", "-enc", "-e", "-ec":
			if i+1 >= len(p.Args) {
				fmt.Fprint(p.Stderr, "Missing the argument to -EncodedCommand.\r\n")
				return 64
			}
			script, err := DecodePowerShell(p.Args[i+1])
			if err != nil {
				fmt.Fprintf(p.Stderr, "Cannot process the command because the value specified with -EncodedCommand is not properly encoded: %v\r\n", err)
				return 64
			}
			return RunPowerShell(ctx, script, p.Stdout, p.Stderr)
		case "-command", "-c":
			return RunPowerShell(ctx, strings.Join(p.Args[i+1:], " "), p.Stdout, p.Stderr)
		}
	}
	fmt.Fprint(p.Stderr, "wsmantest: powershell needs -EncodedCommand or -Command (no interactive session)\r\n")
	return 64
}

// DecodePowerShell decodes a -EncodedCommand argument: base64 of the
// script in UTF-16LE.
func DecodePowerShell(encoded string) (string, error) {
	raw, err := decodeBase64(encoded)
	if err != nil {
		return "", err
	}
	if len(raw)%2 != 0 {
		return "", fmt.Errorf("odd length %d: not UTF-16", len(raw))
	}
	u := make([]uint16, len(raw)/2)
	for i := range u {
		u[i] = uint16(raw[2*i]) | uint16(raw[2*i+1])<<8
	}
	return string(utf16.Decode(u)), nil
}

// RunPowerShell runs a tiny subset of PowerShell, statement by statement
// (statements end at ; or a newline outside quotes):
//
//   - $name = anything: ignored (e.g. $ProgressPreference = 'SilentlyContinue').
//   - Write-Output, Write-Host, echo ARGS: ARGS joined with spaces, and
//     CRLF, on stdout. Arguments are words, 'single' or "double" quoted
//     strings (no variable expansion).
//   - Write-Error ARGS: ARGS and CRLF on stderr; the script's exit code
//     becomes 1 if it ends without exit.
//   - exit [N]: ends the script with code N (0 without one).
//   - anything else: a "not recognized" error on stderr, exit code 1.
//
// Real PowerShell writes its error stream as CLIXML ("#< CLIXML") when run
// with -EncodedCommand over WinRM; this subset writes plain text.
func RunPowerShell(ctx context.Context, script string, stdout, stderr io.Writer) int {
	code := 0
	for _, stmt := range splitStatements(script) {
		if ctx.Err() != nil {
			return 1
		}
		words := psWords(stmt)
		if len(words) == 0 {
			continue
		}
		code = 0
		switch cmd := strings.ToLower(words[0]); {
		case strings.HasPrefix(cmd, "$") && len(words) > 1 && words[1] == "=":
		case cmd == "write-output" || cmd == "write-host" || cmd == "echo":
			fmt.Fprint(stdout, strings.Join(words[1:], " ")+"\r\n")
		case cmd == "write-error":
			fmt.Fprint(stderr, strings.Join(words[1:], " ")+"\r\n")
			code = 1
		case cmd == "exit":
			if len(words) < 2 {
				return 0
			}
			n, err := strconv.Atoi(words[1])
			if err != nil {
				return 0
			}
			return n
		default:
			fmt.Fprintf(stderr, "%s : The term '%s' is not recognized as the name of a cmdlet, function, script file, or operable program.\r\n", words[0], words[0])
			code = 1
		}
	}
	return code
}

// splitStatements splits a script at ; and newlines outside quotes.
func splitStatements(script string) []string {
	var (
		out   []string
		cur   strings.Builder
		quote rune
	)
	for _, r := range script {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			}
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote = r
			cur.WriteRune(r)
		case r == ';' || r == '\n' || r == '\r':
			out = append(out, cur.String())
			cur.Reset()
		default:
			cur.WriteRune(r)
		}
	}
	return append(out, cur.String())
}

// psWords splits a statement into words, removing quotes.
func psWords(stmt string) []string {
	var (
		words  []string
		cur    strings.Builder
		quote  rune
		inWord bool
	)
	for _, r := range stmt {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote = r
			inWord = true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
