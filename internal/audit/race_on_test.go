//go:build race

package audit

// raceEnabled: the race detector makes the memory-growth tests' log
// generation many times slower, so they use a smaller large log under it.
const raceEnabled = true
