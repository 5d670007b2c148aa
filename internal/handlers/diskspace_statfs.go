//go:build linux || darwin

package handlers

import "syscall"

// diskSpace returns the total size of the filesystem holding dir and the
// bytes an unprivileged process can still use there (the blocks reserved
// for root are excluded, as in Kafka's usable space). ok is false if the
// filesystem cannot be queried.
func diskSpace(dir string) (total, usable int64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, 0, false
	}
	bsize := int64(st.Bsize)
	return int64(st.Blocks) * bsize, int64(st.Bavail) * bsize, true
}
