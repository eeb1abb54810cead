package main

import (
	"os"
	"slices"
	"syscall"

	"github.com/peftbench/peftbench/nn"
	"golang.org/x/sys/cpu"
)

// useAVX512OpenBLAS restarts the process with OPENBLAS_CORETYPE=SkylakeX
// when OpenBLAS chose its AVX2 kernels on a CPU that has AVX-512: Debian's
// OpenBLAS 0.3.21 does not recognise recent AMD EPYCs and falls back to
// Haswell, and on this project's machines its AVX-512 kernels train the
// benchmark models 30% faster (harness bench: field-notes full fine-tuning
// 28 → 20 ms per step). OpenBLAS picks its kernels when the library loads,
// before any Go code runs, hence the restart; trial processes and the
// PyTorch peer inherit the setting. An OPENBLAS_CORETYPE already set is
// left alone.
func useAVX512OpenBLAS() {
	avx512 := cpu.X86.HasAVX512F && cpu.X86.HasAVX512BW && cpu.X86.HasAVX512DQ && cpu.X86.HasAVX512VL && cpu.X86.HasAVX512CD
	if nn.BLAS() != "openblas" || !avx512 || os.Getenv("OPENBLAS_CORETYPE") != "" ||
		!slices.Contains([]string{"Haswell", "Zen"}, nn.BLASCore()) {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	os.Setenv("OPENBLAS_CORETYPE", "SkylakeX")
	_ = syscall.Exec(exe, os.Args, os.Environ()) // returns only if the restart failed: carry on as is
}
