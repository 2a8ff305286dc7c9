package guard

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// builtinCases says, for every built-in, texts it must match and texts it
// must not. TestBuiltins fails if a built-in has no case.
var builtinCases = map[string]struct{ match, pass []string }{
	"rm-rf-root": {
		match: []string{
			"rm -rf /", "rm -fr /", "rm -Rf /", "rm -r -f /", "rm -f -r /", "sudo rm -rf /",
			"rm -rf --no-preserve-root /", "rm --recursive --force /", "rm -rf /*", `rm -rf "/"`,
			"cd /tmp && rm -rf / ", "rm -rf /tmp/build /", "rm -rf /; echo done", "echo rm -rf /",
		},
		pass: []string{
			"rm -rf /tmp/build", "rm -rf ./", "rm -f /etc/motd", "rm -rf build/", "rm -r /var/lib/app/cache",
			"farm -rf /", "rm -rf ${DIR}/", "rm -rf /opt/*",
		},
	},
	"mkfs": {
		match: []string{"mkfs.ext4 /dev/sdb1", "mkfs -t xfs /dev/vdb", "sudo mkfs.xfs -f /dev/nvme1n1", "true; mkfs.btrfs /dev/sdc"},
		pass:  []string{"echo mkfs", "echo mkfs /dev/sda", "which mkfs.ext4", "man mkfs", "apt-get install -y xfsprogs", "# runs mkfs.ext4 later"},
	},
	"dd-to-disk": {
		match: []string{"dd if=/dev/zero of=/dev/sda bs=1M", "dd if=image.iso of=/dev/sdb", "sudo dd of=/dev/nvme0n1 if=x", "dd if=a of=/dev/xvda", "dd if=a of='/dev/vdb'"},
		pass:  []string{"dd if=/dev/zero of=./file bs=1M count=10", "dd if=/dev/sda of=backup.img", "dd if=/dev/urandom of=/dev/null", "add of=/dev/sda"},
	},
	"redirect-to-disk": {
		match: []string{"echo x > /dev/sda", "cat img >/dev/sdb1", "head -c 1M /dev/zero > /dev/nvme0n1", "echo >'/dev/vda'"},
		pass:  []string{"echo x > /dev/null", "cmd 2>/dev/stderr", "cat /dev/sda > disk.img", "echo x >> /var/log/sda.log"},
	},
	"fork-bomb": {
		match: []string{":(){ :|:& };:", ":(){ :|: & };:", "bomb() { bomb | bomb & }; bomb", "f(){ f|f&};f", `perl -e "fork while fork"`, "%0|%0"},
		pass:  []string{"f() { echo hi; }; f", "build() { make | tee log; }", "ps aux | grep fork", "sleep 10 &"},
	},
	"chmod-chown-root": {
		match: []string{"chmod -R 777 /", "chown -R nobody /", "sudo chgrp -R users /", "chmod --recursive 000 /", "chmod -vR 777 / ; ls"},
		pass:  []string{"chmod -R 755 /var/www", "chown -R app:app /srv/app", "chmod 755 /", "chmod -R g+w ./"},
	},
	"shred-device": {
		match: []string{"shred -n 3 /dev/sda", "shred -vfz /dev/nvme0n1", "sudo shred /dev/sdb"},
		pass:  []string{"shred secret.txt", "shred -u /tmp/key.pem"},
	},
	"wipefs": {
		match: []string{"wipefs -a /dev/sdb", "wipefs --all /dev/sdb", "wipefs -af /dev/vdb", "wipefs -o 0x438 /dev/sdb", "wipefs --offset=0x438 /dev/sdb"},
		pass:  []string{"wipefs /dev/sdb", "which wipefs", "wipefs -n /dev/sdb", "wipefs --no-act /dev/sdb"},
	},
	"shutdown-reboot": {
		match: []string{"reboot", "sudo reboot", "shutdown -h now", "apt-get upgrade -y && reboot", "/sbin/poweroff", "halt -p", "systemctl reboot", "if x; then reboot; fi", "echo hi\nshutdown -r +5"},
		pass:  []string{"echo rebooting", "last reboot", "./reboot-notice.sh", "systemctl restart nginx", "grep shutdown /var/log/syslog"},
	},
	"init-runlevel": {
		match: []string{"init 0", "init 6", "sudo init 6", "telinit 0", "sync; init 0"},
		pass:  []string{"init 3", "git init", "terraform init 0", "./init 6x"},
	},
	"iptables-flush": {
		match: []string{"iptables -F", "iptables -t nat -F", "ip6tables --flush INPUT", "iptables -F INPUT", "nft flush ruleset"},
		pass:  []string{"iptables -L", "iptables -A INPUT -p tcp --dport 22 -j ACCEPT", "iptables-save > rules", "nft list ruleset"},
	},
	"sql-drop": {
		match: []string{"DROP DATABASE prod", "drop table users;", "DROP TABLE IF EXISTS tmp", "mysql -e 'drop schema app'"},
		pass:  []string{"DROP INDEX idx_a ON t", "./drop_table_test.sh", "ALTER TABLE t DROP COLUMN c", "dropdb-helper --dry-run"},
	},
	"sql-truncate": {
		match: []string{"TRUNCATE TABLE users", "truncate sessions;", "TRUNCATE `app`.`log`"},
		pass:  []string{"truncate -s 0 /var/log/app.log", "truncate --size=0 file", "echo truncated"},
	},
	"sql-delete-without-where": {
		match: []string{"DELETE FROM users", "delete from users;", `mysql -e "DELETE FROM app.sessions"`, "DELETE FROM `log` ;"},
		pass:  []string{"DELETE FROM users WHERE id = 1", "delete from users\nwhere id = 1;", "DELETE FROM t USING t JOIN u WHERE t.id = u.id", "kubectl delete pod x"},
	},
}

func TestBuiltins(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, r := range Builtins() {
		require.False(t, seen[r.Name], "duplicate built-in %s", r.Name)
		seen[r.Name] = true
		require.NoError(t, checkRuleID("id", "gdr_01JDQ3Z7V6X9D1S5N0K4B2C8E7"))
		require.Error(t, checkRuleID("id", r.ID), "a built-in's ID is refused for edits")
		_, err := compilePattern(r.Pattern)
		require.NoError(t, err, r.Name)
		require.True(t, r.BuiltIn && r.Enabled && r.Severity.valid(), r.Name)
		cases, ok := builtinCases[r.Name]
		require.True(t, ok, "built-in %s has no test cases", r.Name)
		require.NotEmpty(t, cases.match, r.Name)
		require.NotEmpty(t, cases.pass, r.Name)
		t.Run(r.Name, func(t *testing.T) {
			t.Parallel()
			for _, s := range cases.match {
				require.NotNil(t, r.find(s, strings.ToLower(s)), "%s must match %q (keywords included)", r.Name, s)
			}
			for _, s := range cases.pass {
				require.False(t, r.re.MatchString(s), "%s must not match %q", r.Name, s)
				require.Nil(t, r.find(s, strings.ToLower(s)))
			}
		})
	}
	require.Len(t, seen, len(builtinCases), "a case names no built-in")
}

// TestBuiltinsHarmlessCommands checks everyday commands against every
// built-in: none may match.
func TestBuiltinsHarmlessCommands(t *testing.T) {
	t.Parallel()
	harmless := []string{
		"systemctl restart nginx", "rm -rf /tmp/build", "dd if=/dev/zero of=./file bs=1M count=1",
		"tar czf /backup/etc.tgz /etc", "df -h /", "ls -la /", "echo hello > /dev/null",
		"SELECT * FROM users WHERE id = 1", "UPDATE users SET a = 1 WHERE id = 2", "kubectl rollout restart deploy/web",
	}
	for _, s := range harmless {
		for _, r := range Builtins() {
			require.False(t, r.re.MatchString(s), "%s matches harmless %q", r.Name, s)
		}
	}
}

func TestBuiltinIDs(t *testing.T) {
	t.Parallel()
	require.Equal(t, "gdr_00000000000000000000000001", builtinID(1))
	require.Equal(t, "gdr_00000000000000000000000014", builtinID(14))
	b, ok := builtinByRef("fork-bomb")
	require.True(t, ok)
	byID, ok := builtinByRef(b.ID)
	require.True(t, ok)
	require.Equal(t, b.Name, byID.Name)
}
