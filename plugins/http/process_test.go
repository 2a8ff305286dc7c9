package httpexec

import (
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk"
	"github.com/jobgraph/jobgraph/plugins/sdk/sdktest"
)

// TestProcessConformance runs the conformance kit against the executor as
// a real plugin process (testdata/plugin, which serves it the way
// `jobgraph plugin serve http` does): go-plugin's handshake, AutoMTLS, the
// plugin environment, and the secret scan of the plugin's own output.
func TestProcessConformance(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "jobgraph-executor-http")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/plugin").CombinedOutput()
	require.NoError(t, err, "build the plugin:\n%s", out)

	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("/slow", slowHandler)
	srv := newServer(t, mux)
	h := sdktest.Process(t, exec.Command(bin))
	sdktest.Conformance(t, h, sdktest.Suite{
		Quick: reqTask(t, map[string]any{"url": srv.URL + "/ok"}),
		Slow:  reqTask(t, map[string]any{"url": srv.URL + "/slow"}),
		Invalid: []sdk.Task{
			reqTask(t, map[string]any{"url": srv.URL, "body_regex": "("}),
		},
		SlowTimeout: 300 * time.Millisecond,
	})
}
