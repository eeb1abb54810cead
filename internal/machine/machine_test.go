package machine

import "testing"

func TestDescriptions(t *testing.T) {
	in := Info{GitCommit: "7b7634d84633aaaabbbb", GitDirty: true, GoVersion: "go1.26.8", OS: "linux/amd64", CPU: "AMD EPYC", Cores: 2, BLAS: "openblas", GPU: "none"}
	for _, c := range []struct{ got, want string }{
		{in.CodeVersion(), "7b7634d84633+dirty"},
		{in.Commit(), "7b7634d84633aaaabbbb (uncommitted changes)"},
		{in.Machine(), "AMD EPYC, 2 cores, BLAS openblas, go1.26.8 linux/amd64"},
		{in.Host(), "AMD EPYC, 2 cores, linux/amd64"},
		{in.String(), "AMD EPYC, 2 cores, BLAS openblas, go1.26.8, commit 7b7634d84633+dirty, GPU: none"},
		{Info{}.CodeVersion(), "unknown"},
		{Info{}.Commit(), "unknown"},
		{Info{}.Machine(), "unknown"},
		{Info{}.Host(), "unknown"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
