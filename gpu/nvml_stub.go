//go:build !linux || !cgo

package gpu

import (
	"fmt"
	"runtime"
)

// noNVML stands in for NVML where go-nvml cannot be used: it needs cgo to
// call into the library, and this package uses it on Linux only.
type noNVML struct{}

func newNVMLBackend() backend { return noNVML{} }

func (noNVML) init() error {
	why := "built without cgo, which go-nvml needs; rebuild with CGO_ENABLED=1"
	if runtime.GOOS != "linux" {
		why = "NVML is read on Linux only, this is " + runtime.GOOS
	}
	return fmt.Errorf("%w: NVML not available (%s)", ErrNoGPU, why)
}
func (noNVML) shutdown()                  {}
func (noNVML) count() (int, error)        { return 0, nil }
func (noNVML) device(int) (Device, error) { return Device{}, ErrNoGPU }
func (noNVML) read(int) (reading, error)  { return reading{}, ErrNoGPU }
