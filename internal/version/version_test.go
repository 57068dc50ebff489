package version

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/gatehub/gatehub", Version: "(devel)"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "5c4f77f0123456789abcdef0123456789abcdef0"},
			{Key: "vcs.time", Value: "2026-12-03T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name                  string
		version, commit, date string
		bi                    *debug.BuildInfo
		want                  Info
	}{
		{"stamped wins", "v1.4.0", "abc123", "2026-12-01T00:00:00Z", vcs,
			Info{Version: "v1.4.0", Commit: "abc123", Date: "2026-12-01T00:00:00Z", GoVersion: "go1.26.8"}},
		{"vcs fallback", "", "", "", vcs,
			Info{Version: "devel", Commit: "5c4f77f0123456789abcdef0123456789abcdef0", Date: "2026-12-03T10:00:00Z", Modified: true, GoVersion: "go1.26.8"}},
		{"go install of a tagged module", "", "", "", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.3.2"}},
			Info{Version: "v1.3.2", Commit: "unknown", GoVersion: "go1.26.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolve(tt.version, tt.commit, tt.date, tt.bi); got != tt.want {
				t.Errorf("resolve = %+v, want %+v", got, tt.want)
			}
		})
	}
	if got := resolve("", "", "", nil); got.Version != "devel" || got.Commit != "unknown" || got.GoVersion == "" {
		t.Errorf("no build info: %+v", got)
	}
}

func TestString(t *testing.T) {
	s := Info{Version: "v1.4.0", Commit: "5c4f77f0123456789abcdef", Modified: true, GoVersion: "go1.26.8"}.String()
	for _, want := range []string{"v1.4.0", "5c4f77f01234", "modified", "go1.26.8"} {
		if !strings.Contains(s, want) {
			t.Errorf("%q lacks %q", s, want)
		}
	}
	if g := Get(); g.Version == "" || g.Commit == "" {
		t.Errorf("Get() = %+v", g)
	}
}
