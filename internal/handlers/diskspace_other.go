//go:build !linux && !darwin

package handlers

// diskSpace is unknown on platforms without statfs; DescribeLogDirs then
// reports -1 for the sizes, which the protocol allows.
func diskSpace(string) (total, usable int64, ok bool) { return 0, 0, false }
