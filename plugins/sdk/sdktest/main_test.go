package sdktest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// echoBinary is the testdata/echo plugin, built by TestMain.
var echoBinary string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sdktest-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	echoBinary = filepath.Join(dir, "echo")
	if out, err := exec.Command("go", "build", "-o", echoBinary, "./testdata/echo").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build the echo plugin: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}
