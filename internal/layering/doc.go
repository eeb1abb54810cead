// Package layering holds the test that keeps the import graph in the
// project's layers: each package imports only packages of lower layers,
// and the readers of result files (reports, check, stats and the result
// schema) never link the engine. The layers are listed in the test.
package layering
