package device

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ebitengine/purego"
)

// Where the backends look for their libraries, in order:
//
//  1. the folders in $PEFTBENCH_CUDA_PATH (CUDA) or $PEFTBENCH_OPENCL_PATH
//     (OpenCL), separated by colons: the way to point elsewhere;
//  2. the dynamic linker's own search (LD_LIBRARY_PATH, ld.so.cache): the
//     NVIDIA driver's libcuda and Debian's libOpenCL and libclblast;
//  3. for CUDA, the toolkit: $CUDA_HOME, $CUDA_PATH, /usr/local/cuda and
//     /usr/local/cuda-*, each with lib64 and lib, /usr/local/nvidia/lib64
//     and /usr/lib/wsl/lib (WSL's driver);
//  4. for CUDA, the lib folders of the nvidia-* Python wheels
//     (nvidia/cuda_nvrtc/lib, nvidia/cublas/lib, ...) under every
//     site-packages or dist-packages folder of $VIRTUAL_ENV, $CONDA_PREFIX,
//     /usr, /usr/local, /opt/conda and the home folder's ~/.local, as pip
//     installs them beside PyTorch.

// library is a shared library the backend needs, by the names its versions
// take (the newest first).
type library struct {
	what  string // for errors: "the CUDA driver (libcuda)"
	names []string
}

// openLibrary dlopens the first of lib's names found in dirs, then by the
// dynamic linker's search, then in extra; the error lists where it looked.
func openLibrary(lib library, dirs, extra []string) (uintptr, string, error) {
	var tried []string
	try := func(path string) (uintptr, bool) {
		h, err := purego.Dlopen(path, purego.RTLD_NOW|purego.RTLD_GLOBAL)
		if err != nil {
			tried = append(tried, path)
			return 0, false
		}
		return h, true
	}
	for _, d := range dirs {
		for _, n := range lib.names {
			if p := filepath.Join(d, n); fileExists(p) {
				if h, ok := try(p); ok {
					return h, p, nil
				}
			}
		}
	}
	for _, n := range lib.names {
		if h, ok := try(n); ok {
			return h, n, nil
		}
	}
	for _, d := range extra {
		for _, n := range lib.names {
			if p := filepath.Join(d, n); fileExists(p) {
				if h, ok := try(p); ok {
					return h, p, nil
				}
			}
		}
	}
	where := append(slices.Clone(dirs), "the dynamic linker's path")
	where = append(where, extra...)
	return 0, "", fmt.Errorf("%w: %s not found (looked for %s in %s)", ErrUnavailable, lib.what,
		strings.Join(lib.names, ", "), strings.Join(where, ", "))
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// envDirs splits a colon-separated list of folders from the environment.
func envDirs(name string) []string {
	var out []string
	for _, d := range strings.Split(os.Getenv(name), ":") {
		if d != "" {
			out = append(out, d)
		}
	}
	return out
}

// cudaDirs are the toolkit and Python wheel folders of step 3 and 4 above
// that exist on this machine.
func cudaDirs() []string {
	var dirs []string
	add := func(patterns ...string) {
		for _, p := range patterns {
			m, _ := filepath.Glob(p)
			slices.Sort(m)
			slices.Reverse(m) // cuda-12.8 before cuda-12.4
			for _, d := range m {
				if st, err := os.Stat(d); err == nil && st.IsDir() && !slices.Contains(dirs, d) {
					dirs = append(dirs, d)
				}
			}
		}
	}
	for _, env := range []string{"CUDA_HOME", "CUDA_PATH"} {
		if h := os.Getenv(env); h != "" {
			add(filepath.Join(h, "lib64"), filepath.Join(h, "lib"))
		}
	}
	add("/usr/local/cuda/lib64", "/usr/local/cuda/lib", "/usr/local/cuda-*/lib64", "/usr/local/nvidia/lib64", "/usr/lib/wsl/lib")
	roots := []string{os.Getenv("VIRTUAL_ENV"), os.Getenv("CONDA_PREFIX"), "/usr", "/usr/local", "/opt/conda"}
	if home, err := os.UserHomeDir(); err == nil {
		roots = append(roots, filepath.Join(home, ".local"))
	}
	for _, r := range roots {
		if r == "" {
			continue
		}
		for _, sp := range []string{"site-packages", "dist-packages"} {
			add(filepath.Join(r, "lib", "python3*", sp, "nvidia", "*", "lib"))
		}
	}
	return dirs
}

// cString returns a NUL-terminated copy of s for C.
func cString(s string) *byte {
	b := make([]byte, len(s)+1)
	copy(b, s)
	return &b[0]
}

// goString reads a NUL-terminated C string of at most len(b) bytes.
func goString(b []byte) string {
	if i := slices.Index(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
