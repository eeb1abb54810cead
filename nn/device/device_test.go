package device

import (
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// openTest opens the device a test runs on: $PEFTBENCH_TEST_DEVICE, else
// OpenCL (pocl in CI); the test is skipped where there is none, saying
// why, unless the device is required.
func openTest(t testing.TB) Device {
	t.Helper()
	name := os.Getenv("PEFTBENCH_TEST_DEVICE") // gpu/check.sh: cuda
	if name == "" {
		name = "opencl"
	}
	d, err := Open(name)
	if errors.Is(err, ErrUnavailable) {
		if os.Getenv("PEFTBENCH_REQUIRE_OPENCL") == "1" || os.Getenv("PEFTBENCH_TEST_DEVICE") != "" {
			t.Fatalf("the test device is required but %v", err)
		}
		t.Skipf("no %s device here: %v", name, err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func TestOpenCLBuildsAndCopies(t *testing.T) {
	d := openTest(t)
	t.Logf("%s: %v", d.Name(), d.Info())
	b, err := d.Alloc(1000)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Free(b)
	src := make([]float32, 1000)
	for i := range src {
		src[i] = float32(i)
	}
	if err := d.WriteFloats(View{b, 0}, src); err != nil {
		t.Fatal(err)
	}
	k, err := d.Kernel("scale")
	if err != nil {
		t.Fatal(err)
	}
	// y[0:500] = 2·x[500:1000]
	if err := d.Launch(k, Cover(500, Local), Local, []Arg{Ptr(View{b, 0}), Ptr(View{b, 500}), Long(500), Float(2)}); err != nil {
		t.Fatal(err)
	}
	got := make([]float32, 1000)
	if err := d.ReadFloats(got, View{b, 0}); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if got[i] != 2*float32(i+500) {
			t.Fatalf("y[%d] = %v, want %v", i, got[i], 2*float32(i+500))
		}
	}
}

func TestGemmMatchesLoops(t *testing.T) {
	d := openTest(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, tc := range []struct{ ta, tb bool }{{false, false}, {false, true}, {true, false}, {true, true}} {
		m, n, k := 7, 5, 9
		a, b, c := randf(rng, m*k), randf(rng, k*n), randf(rng, m*n)
		lda, ldb := k, n
		if tc.ta {
			lda = m
		}
		if tc.tb {
			ldb = k
		}
		want := make([]float64, m*n)
		for i := range m {
			for j := range n {
				s := 0.5 * float64(c[i*n+j])
				for p := range k {
					av := a[i*k+p]
					if tc.ta {
						av = a[p*m+i]
					}
					bv := b[p*n+j]
					if tc.tb {
						bv = b[j*k+p]
					}
					s += 1.5 * float64(av) * float64(bv)
				}
				want[i*n+j] = s
			}
		}
		buf, _ := d.Alloc(3 + m*k + k*n + m*n)
		av, bv, cv := View{buf, 3}, View{buf, 3 + m*k}, View{buf, 3 + m*k + k*n}
		d.WriteFloats(av, a)
		d.WriteFloats(bv, b)
		d.WriteFloats(cv, c)
		if err := d.Gemm(tc.ta, tc.tb, m, n, k, 1.5, av, lda, bv, ldb, 0.5, cv, n); err != nil {
			t.Fatal(err)
		}
		got := make([]float32, m*n)
		d.ReadFloats(got, cv)
		for i := range got {
			if math.Abs(float64(got[i])-want[i]) > 1e-5*(1+math.Abs(want[i])) {
				t.Fatalf("trans %v: C[%d] = %v, want %v", tc, i, got[i], want[i])
			}
		}
		d.Free(buf)
	}
}

func randf(rng *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return x
}

// TestCUDA runs on a CUDA GPU where there is one, and says plainly why it
// skips where there is none.
func TestCUDA(t *testing.T) {
	d, err := Open("cuda")
	if errors.Is(err, ErrUnavailable) {
		if os.Getenv("PEFTBENCH_TEST_DEVICE") == "cuda" {
			t.Fatalf("PEFTBENCH_TEST_DEVICE=cuda but %v", err)
		}
		t.Skipf("no CUDA here: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	t.Logf("%s: %v", d.Name(), d.Info())
	free, total, err := d.Memory()
	if err != nil || total <= 0 || free > total {
		t.Fatalf("memory %d of %d: %v", free, total, err)
	}
}

func TestOpenNames(t *testing.T) {
	if _, err := Open("tpu"); err == nil || !strings.Contains(err.Error(), "cpu, cuda, opencl, auto") {
		t.Fatalf("an unknown name: %v", err)
	}
	if _, err := Open("auto"); err != nil && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("auto without CUDA must say unavailable: %v", err)
	}
}

func TestMissingLibraryNamesWhereItLooked(t *testing.T) {
	_, _, err := openLibrary(library{"a library no machine has", []string{"libpeftbench-none.so.9"}}, []string{"/nonexistent"}, nil)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "libpeftbench-none.so.9") || !strings.Contains(err.Error(), "/nonexistent") {
		t.Fatalf("got %v", err)
	}
}
