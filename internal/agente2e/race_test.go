//go:build race

package agente2e

// raceEnabled: the test binary was built with -race, so the agent binary the
// fault test builds is too, sharing the build cache's packages.
const raceEnabled = true
