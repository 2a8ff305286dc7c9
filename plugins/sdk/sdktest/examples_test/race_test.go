//go:build race

package examples_test

// raceFlags builds the Go example with the race detector when this test
// runs with it: the example's dependencies are then the very packages this
// test binary was built from, already in the build cache.
var raceFlags = []string{"-race"}
