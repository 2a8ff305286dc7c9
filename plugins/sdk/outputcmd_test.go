package sdk

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// memOutput records what an Output receives.
type memOutput struct {
	mu             sync.Mutex
	stdout, stderr bytes.Buffer
	outputs        map[string]string
	sets           int
	fail           error // returned by stdout writes
}

func newMemOutput() *memOutput { return &memOutput{outputs: map[string]string{}} }

func (m *memOutput) Stdout() io.Writer    { return memWriter{m, &m.stdout} }
func (m *memOutput) Stderr() io.Writer    { return memWriter{m, &m.stderr} }
func (m *memOutput) Progress(int, string) {}
func (m *memOutput) SetOutput(name, value string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.outputs[name] = value
	m.sets++
}

type memWriter struct {
	m   *memOutput
	buf *bytes.Buffer
}

func (w memWriter) Write(p []byte) (int, error) {
	w.m.mu.Lock()
	defer w.m.mu.Unlock()
	if w.m.fail != nil && w.buf == &w.m.stdout {
		return 0, w.m.fail
	}
	return w.buf.Write(p)
}

func TestOutputCommandsLines(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		stdout string
		want   map[string]string
	}{
		{"one", "::set-output name=path::/opt/app/1.2\n", map[string]string{"path": "/opt/app/1.2"}},
		{"among other lines", "fetching\n::set-output name=path::/x\ndone\n", map[string]string{"path": "/x"}},
		{"crlf", "::set-output name=path::C:\\app\r\n", map[string]string{"path": `C:\app`}},
		{"empty value", "::set-output name=path::\n", map[string]string{"path": ""}},
		{"value with colons and spaces", "::set-output name=url::http://h:80/a b::c \n", map[string]string{"url": "http://h:80/a b::c "}},
		{"value with percent signs, literally", "::set-output name=v::a%0Ab%25\n", map[string]string{"v": "a%0Ab%25"}},
		{"last one wins", "::set-output name=v::1\n::set-output name=v::2\n", map[string]string{"v": "2"}},
		{"several", "::set-output name=a::1\n::set-output name=B-2_c::2\n", map[string]string{"a": "1", "B-2_c": "2"}},
		{"max name", "::set-output name=" + strings.Repeat("n", 63) + "::v\n", map[string]string{strings.Repeat("n", 63): "v"}},

		{"unterminated without End", "::set-output name=v::1", map[string]string{}},
		{"not at the line start", " ::set-output name=v::1\necho ::set-output name=w::2\n", map[string]string{}},
		{"dot in name", "::set-output name=a.b::1\n", map[string]string{}},
		{"empty name", "::set-output name=::1\n", map[string]string{}},
		{"name too long", "::set-output name=" + strings.Repeat("n", 64) + "::v\n", map[string]string{}},
		{"name ends with -", "::set-output name=a-::1\n", map[string]string{}},
		{"name starts with _", "::set-output name=_a::1\n", map[string]string{}},
		{"name with space", "::set-output name=a b::1\n", map[string]string{}},
		{"no separator", "::set-output name=a\n", map[string]string{}},
		{"other command", "::set-env name=a::1\n::debug::x\n", map[string]string{}},
		{"reserved", "::set-output name=exit_code::0\n", map[string]string{}},
		{"a line with a lone \r is one line", "::set-output name=a::1\r::set-output name=b::2\n", map[string]string{"a": "1\r::set-output name=b::2"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Whole, then one byte per write: the result is the same.
			for _, chunk := range []int{len(tt.stdout), 1, 7} {
				m := newMemOutput()
				c := ParseOutputCommands(m, "exit_code")
				for s := tt.stdout; s != ""; {
					n := min(chunk, len(s))
					k, err := c.Stdout().Write([]byte(s[:n]))
					require.NoError(t, err)
					require.Equal(t, n, k)
					s = s[n:]
				}
				require.Equal(t, tt.want, m.outputs, "writes of %d bytes", chunk)
				require.Equal(t, tt.stdout, m.stdout.String(), "every byte reaches the log")
			}
		})
	}
}

func TestOutputCommandsEnd(t *testing.T) {
	t.Parallel()
	m := newMemOutput()
	c := ParseOutputCommands(m)
	_, err := io.WriteString(c.Stdout(), "start\n::set-output name=v::last\r")
	require.NoError(t, err)
	require.Empty(t, m.outputs, "the line may not be over yet")
	c.End()
	require.Equal(t, map[string]string{"v": "last"}, m.outputs)
	c.End() // nothing left
	require.Equal(t, 1, m.sets)

	// After End, writes start a new line.
	_, err = io.WriteString(c.Stdout(), "::set-output name=w::1\n")
	require.NoError(t, err)
	require.Equal(t, map[string]string{"v": "last", "w": "1"}, m.outputs)

	// End with a line that is not a marker, or is one too long, sets nothing.
	m = newMemOutput()
	c = ParseOutputCommands(m)
	_, _ = io.WriteString(c.Stdout(), "::set-out")
	c.End()
	_, _ = io.WriteString(c.Stdout(), "::set-output name=v::"+strings.Repeat("x", MaxOutputCommandLine))
	c.End()
	require.Empty(t, m.outputs)
}

func TestOutputCommandsLongLines(t *testing.T) {
	t.Parallel()
	m := newMemOutput()
	c := ParseOutputCommands(m)
	var sent strings.Builder
	write := func(s string) {
		t.Helper()
		sent.WriteString(s)
		_, err := io.WriteString(c.Stdout(), s)
		require.NoError(t, err)
	}
	prefix := "::set-output name=v::"

	// A marker line of exactly the limit counts, with or without \r.
	fits := prefix + strings.Repeat("x", MaxOutputCommandLine-len(prefix))
	write(fits + "\r\n")
	require.Equal(t, fits[len(prefix):], m.outputs["v"])
	write(fits + "\n")
	require.Equal(t, 2, m.sets)

	// One byte more does not, however it arrives; the next line still does.
	for _, b := range []byte(prefix + strings.Repeat("y", MaxOutputCommandLine-len(prefix)+1)) {
		write(string(b))
	}
	require.LessOrEqual(t, len(c.line), MaxOutputCommandLine+1)
	write("y")
	require.Nil(t, c.line, "a line past the limit is not kept")
	write("\n")
	require.Equal(t, 2, m.sets)
	write(prefix + strings.Repeat("y", MaxOutputCommandLine-len(prefix)+1) + "\n")
	require.Equal(t, 2, m.sets)
	write(prefix + "after\n")
	require.Equal(t, "after", m.outputs["v"])

	// An ordinary long line is never held, and leaves the next line alone.
	write(strings.Repeat("z", 10<<20))
	require.Empty(t, c.line)
	write("z\n" + prefix + "again\n")
	require.Equal(t, "again", m.outputs["v"])
	require.Equal(t, sent.String(), m.stdout.String())
}

func TestOutputCommandsPassesThrough(t *testing.T) {
	t.Parallel()
	m := newMemOutput()
	c := ParseOutputCommands(m, "exit_code")
	_, err := io.WriteString(c.Stderr(), "::set-output name=e::1\n")
	require.NoError(t, err)
	require.Empty(t, m.outputs, "stderr is not parsed")
	require.Equal(t, "::set-output name=e::1\n", m.stderr.String())

	c.SetOutput("exit_code", "0") // the executor's own, reserved or not
	require.Equal(t, map[string]string{"exit_code": "0"}, m.outputs)

	m.fail = errors.New("gone")
	_, err = io.WriteString(c.Stdout(), "::set-output name=v::1\n")
	require.ErrorIs(t, err, m.fail)
	require.NotContains(t, m.outputs, "v", "what was not written is not parsed")
}

func TestOutputCommandsConcurrentWrites(t *testing.T) {
	t.Parallel()
	m := newMemOutput()
	c := ParseOutputCommands(m)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = io.WriteString(c.Stdout(), "::set-output name=v::1\n")
				_, _ = io.WriteString(c.Stderr(), "x\n")
				c.Progress(50, "half")
			}
		})
	}
	wg.Wait()
	c.End()
	require.Equal(t, 800, m.sets)
}

func TestValidOutputName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"a", "path", "exit_code", "A-1", "9", strings.Repeat("a", 63)} {
		require.True(t, ValidOutputName(ok), ok)
	}
	for _, bad := range []string{"", "a.b", "-a", "a_", "a b", "é", "a:b", strings.Repeat("a", 64)} {
		require.False(t, ValidOutputName(bad), bad)
	}
}
