//go:build !race

package agente2e

const raceEnabled = false
