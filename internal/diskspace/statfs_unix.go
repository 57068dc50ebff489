//go:build linux || darwin || freebsd

package diskspace

import (
	"fmt"
	"syscall"
)

// statfs reads the space available to unprivileged writers (f_bavail):
// the root-reserved blocks are not the store's to use.
func statfs(path string) (free, total uint64, err error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, 0, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize) //nolint:unconvert // int64 on linux, uint32 on darwin
	return uint64(st.Bavail) * bs, uint64(st.Blocks) * bs, nil
}
