// Command badhandshake prints something that is not a go-plugin handshake
// line, and exits.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("hello, I am not a plugin handshake")
	os.Exit(1)
}
