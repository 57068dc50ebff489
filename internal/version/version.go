// Package version says which build of gatehub is running. Release builds
// stamp it with -ldflags (see deploy/Dockerfile):
//
//	go build -ldflags "-X github.com/gatehub/gatehub/internal/version.version=v1.4.0 \
//	  -X github.com/gatehub/gatehub/internal/version.commit=$(git rev-parse HEAD)" ./cmd/...
//
// Without the stamp (go run, go install, go test) it falls back to what the
// go command recorded in the binary (runtime/debug.ReadBuildInfo): the
// module version and, when built inside a git checkout, the VCS revision.
// Every command reports the same Info: gatehubd -version, gatehubctl and
// the gatehub_build_info metric.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

// Set by -ldflags -X; empty in unstamped builds.
var (
	version string
	commit  string
	date    string // build time, RFC 3339
)

// Info describes one build.
type Info struct {
	Version   string `json:"version"`            // "v1.4.0", a pseudo-version, or "devel"
	Commit    string `json:"commit"`             // full VCS revision, "unknown" when not recorded
	Date      string `json:"date,omitempty"`     // build or commit time, RFC 3339
	Modified  bool   `json:"modified,omitempty"` // built from a checkout with uncommitted changes
	GoVersion string `json:"goVersion"`          // toolchain that built the binary
}

var (
	once sync.Once
	info Info
)

// Get returns the Info of the running binary.
func Get() Info {
	once.Do(func() {
		bi, _ := debug.ReadBuildInfo()
		info = resolve(version, commit, date, bi)
	})
	return info
}

// resolve prefers the stamped values and fills the rest from the build
// information; split out so the fallback is testable.
func resolve(version, commit, date string, bi *debug.BuildInfo) Info {
	in := Info{Version: version, Commit: commit, Date: date, GoVersion: runtime.Version()}
	if bi != nil {
		if bi.GoVersion != "" {
			in.GoVersion = bi.GoVersion
		}
		if in.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			in.Version = bi.Main.Version
		}
		stamped := commit != ""
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if in.Commit == "" {
					in.Commit = s.Value
				}
			case "vcs.time":
				if in.Date == "" {
					in.Date = s.Value
				}
			case "vcs.modified":
				// A stamped commit names what the release was built from; the
				// checkout's state at build time says nothing about it.
				if !stamped {
					in.Modified = s.Value == "true"
				}
			}
		}
	}
	if in.Version == "" {
		in.Version = "devel"
	}
	if in.Commit == "" {
		in.Commit = "unknown"
	}
	return in
}

// Short is the commit abbreviated to 12 characters, as git shows it.
func (i Info) Short() string {
	if len(i.Commit) > 12 {
		return i.Commit[:12]
	}
	return i.Commit
}

// String is the one line printed by `gatehubd -version`.
func (i Info) String() string {
	s := fmt.Sprintf("%s (commit %s", i.Version, i.Short())
	if i.Modified {
		s += ", modified"
	}
	if i.Date != "" {
		s += ", " + i.Date
	}
	return s + ", " + i.GoVersion + ")"
}
