// Command exit exits at once, before any handshake, as a plugin whose
// configuration is broken would.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "fatal: cannot read my configuration")
	os.Exit(3)
}
