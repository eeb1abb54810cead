// Package devicetest opens the device the device tests run on: OpenCL
// (pocl in CI) unless $PEFTBENCH_TEST_DEVICE names another ("cuda" on a GPU
// machine). A test skips, saying why, where the device is missing, unless
// $PEFTBENCH_REQUIRE_OPENCL=1 or $PEFTBENCH_TEST_DEVICE asks for it.
package devicetest

import (
	"errors"
	"os"
	"testing"

	"github.com/peftbench/peftbench/nn/device"
)

// Name is the device the tests run on.
func Name() string {
	if d := os.Getenv("PEFTBENCH_TEST_DEVICE"); d != "" {
		return d
	}
	return "opencl"
}

// Open opens the test device, closed when the test ends, or skips.
func Open(t testing.TB) device.Device {
	t.Helper()
	d, err := device.Open(Name())
	if errors.Is(err, device.ErrUnavailable) {
		if os.Getenv("PEFTBENCH_REQUIRE_OPENCL") == "1" || os.Getenv("PEFTBENCH_TEST_DEVICE") != "" {
			t.Fatalf("the test device is required but %v", err)
		}
		t.Skipf("no %s device: %v", Name(), err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}
