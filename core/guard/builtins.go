package guard

import "regexp"

// The built-in rules ship in code and apply to every project. A project may
// disable one (Service.SetEnabled) but not edit or delete it: an upgrade may
// improve a pattern, and every project gets the improvement.
//
// Each built-in has a fixed, well-formed ID of kind gdr whose time part is
// zero, so built-ins sort before every stored rule and a project's override
// can name them. An ID is never reused: a retired built-in's number stays
// retired, and a new one takes the next number.
//
// The patterns match text, not shell syntax: a guard cannot know what a
// script will do, only what it says. They aim at the statement in command
// position with the arguments that make it destructive, so that ordinary
// uses of the same tools pass ("rm -rf /tmp/build", "dd if=/dev/zero
// of=./file", "iptables -L", "wipefs /dev/sdb", which only lists). A
// dangerous statement quoted in an echo or a comment ("echo rm -rf /") still
// matches: a false alarm on a run someone can reword is cheaper than a
// wiped host, and a project that disagrees can disable the rule. Where the
// tool's name alone is a common word (mkfs, shutdown, reboot, halt, init),
// the rule wants it in command position (start of a line, after ; && | (
// or sudo), so "echo mkfs /dev/sda", "last reboot" and "git init" pass.

// cmdStart is what may come before a command: the start of a line, a
// separator, a subshell or backquote, or a prefix that runs its argument.
const cmdStart = `(?:^|[;&|(\x60{]|\bsudo|\bexec|\bthen|\bdo|\belse|\bxargs|\bnohup)\s*(?:/usr)?(?:/s?bin/)?`

var builtins = []Rule{
	// --- block ---
	builtin(1, "rm-rf-root", SeverityBlock, []string{"rm"},
		"rm -r (any spelling of the flags, with or without sudo or --no-preserve-root) of / or /*",
		`\brm\s+(?:[^;&|\n]*\s)?(?:-[a-zA-Z]*[rR][a-zA-Z]*|--recursive)\s+(?:[^;&|\n]*\s)?["']?/\*?["']?(?:[\s;&|)]|$)`),
	builtin(2, "mkfs", SeverityBlock, []string{"mkfs"},
		"making a file system (mkfs, mkfs.ext4, ...) on a device",
		`(?m)`+cmdStart+`mkfs(?:\.[a-z0-9]+)?\s+\S`),
	builtin(3, "dd-to-disk", SeverityBlock, []string{"of="},
		"dd writing onto a raw disk (of=/dev/sd*, hd*, vd*, xvd*, nvme*, mmcblk*, md*, dm-*)",
		`\bdd\s[^;&|\n]*\bof=["']?/dev/(?:sd|hd|vd|xvd|nvme|mmcblk|md|dm-|disk)`),
	builtin(4, "redirect-to-disk", SeverityBlock, []string{"/dev/"},
		"a shell redirection onto a raw disk (> /dev/sda)",
		`>\s*["']?/dev/(?:sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d|mmcblk\d|md\d|dm-\d|disk\d)`),
	builtin(5, "fork-bomb", SeverityBlock, []string{"()", "fork", "%0"},
		"a fork bomb: :(){ :|:& };: and its renamed variants, perl/ruby 'fork while fork', %0|%0",
		`\(\)\s*\{\s*[\w:.-]+\s*\|\s*[\w:.-]+\s*&\s*;?\s*\}|\bfork\s+while\s+fork\b|%0\s*\|\s*%0`),
	builtin(6, "chmod-chown-root", SeverityBlock, []string{"chmod", "chown", "chgrp"},
		"chmod, chown or chgrp -R on /",
		`\b(?:chmod|chown|chgrp)\s+(?:[^;&|\n]*\s)?(?:-[a-zA-Z]*R[a-zA-Z]*|--recursive)\s+(?:[^;&|\n]*\s)?["']?/["']?(?:[\s;&|)]|$)`),
	builtin(7, "shred-device", SeverityBlock, []string{"shred"},
		"shred of a device under /dev",
		`\bshred\s[^;&|\n]*/dev/`),
	builtin(8, "wipefs", SeverityBlock, []string{"wipefs"},
		"wipefs erasing signatures (-a, --all, -o, --offset); without them it only lists",
		`\bwipefs\s+(?:[^;&|\n]*\s)?(?:-[a-zA-Z]*[ao][a-zA-Z]*|--all|--offset)(?:[\s=]|$)`),
	// --- approve ---
	builtin(9, "shutdown-reboot", SeverityApprove, []string{"shutdown", "reboot", "halt", "poweroff", "kexec"},
		"shutdown, reboot, halt or poweroff as a command, or systemctl reboot/poweroff/halt/kexec",
		`(?m)`+cmdStart+`(?:shutdown|reboot|halt|poweroff)(?:[\s;&|)]|$)|\bsystemctl\s+(?:[^;&|\n]*\s)?(?:reboot|poweroff|halt|kexec)\b`),
	builtin(10, "init-runlevel", SeverityApprove, []string{"init"},
		"init 0 or init 6 (also telinit)",
		`(?m)`+cmdStart+`(?:tel)?init\s+[06](?:[\s;&|)]|$)`),
	builtin(11, "iptables-flush", SeverityApprove, []string{"tables", "nft"},
		"flushing firewall rules: iptables/ip6tables -F or --flush, nft flush ruleset",
		`\bip6?tables(?:-legacy|-nft)?\s+(?:[^;&|\n]*\s)?(?:-F|--flush)(?:[\s;&|]|$)|\bnft\s+flush\s+ruleset\b`),
	builtin(12, "sql-drop", SeverityApprove, []string{"drop"},
		"SQL DROP DATABASE, DROP SCHEMA or DROP TABLE",
		`(?i)\bdrop\s+(?:database|schema|table)\b`),
	builtin(13, "sql-truncate", SeverityApprove, []string{"truncate"},
		"SQL TRUNCATE [TABLE] name (the shell's truncate -s does not match)",
		`(?i)\btruncate\s+(?:table\s+)?[\w.\x60"\[]`),
	builtin(14, "sql-delete-without-where", SeverityApprove, []string{"delete"},
		"SQL DELETE FROM a table with no WHERE clause",
		`(?i)\bdelete\s+from\s+[\w.\x60"\[\]]+\s*(?:;|$|["'])`),
}

// builtinID is the fixed ID of built-in rule n.
func builtinID(n int) string {
	const digits = "0123456789"
	id := []byte("gdr_00000000000000000000000000")
	id[len(id)-1] = digits[n%10]
	id[len(id)-2] = digits[n/10%10]
	id[len(id)-3] = digits[n/100%10]
	return string(id)
}

// builtin makes built-in rule n. keywords are lower-case words of which
// every text the pattern matches holds at least one, whatever its case: a
// text without any is not run through the regular expression at all, which
// keeps the check cheap (a rule whose pattern starts with an alternation
// has no literal prefix for the regexp engine to skip ahead with).
func builtin(n int, name string, sev Severity, keywords []string, desc, pattern string) Rule {
	r := Rule{ID: builtinID(n), Name: name, Pattern: pattern, Severity: sev, Description: desc, Enabled: true, BuiltIn: true, keywords: keywords}
	if sev == SeverityApprove {
		r.ApproverRole = DefaultApproverRole
	}
	r.re = regexp.MustCompile(pattern)
	return r
}

// Builtins returns the built-in rules, enabled, in their fixed order.
func Builtins() []Rule {
	out := make([]Rule, len(builtins))
	copy(out, builtins)
	return out
}

// builtinByRef finds a built-in by ID or name.
func builtinByRef(ref string) (Rule, bool) {
	for _, r := range builtins {
		if r.ID == ref || r.Name == ref {
			return r, true
		}
	}
	return Rule{}, false
}
