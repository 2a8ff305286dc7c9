package ssh

import (
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobgraph/jobgraph/plugins/sdk/sdktest"
	"github.com/jobgraph/jobgraph/plugins/ssh/sshdtest"
)

// TestProcessConformance runs the conformance kit against the executor as
// a real plugin process (testdata/plugin, which serves it the way
// `jobgraph plugin serve ssh` does): go-plugin's handshake, AutoMTLS, the
// plugin's minimal environment, and the secret scan of the plugin's own
// output.
func TestProcessConformance(t *testing.T) {
	t.Parallel()
	bin := filepath.Join(t.TempDir(), "jobgraph-executor-ssh")
	out, err := exec.Command("go", "build", "-o", bin, "./testdata/plugin").CombinedOutput()
	require.NoError(t, err, "build the plugin:\n%s", out)
	v := env{srv: sshdtest.Start(t)}
	h := sdktest.Process(t, exec.Command(bin))
	sdktest.Conformance(t, h, sdktest.Suite{
		Quick:       v.command(t, "echo hello"),
		Slow:        v.command(t, "echo started; while :; do echo tick; sleep 0.2; done"),
		SlowTimeout: 500 * time.Millisecond,
	})
}
