package testcluster

import "syscall"

// sysProcAttr makes the kernel SIGKILL a broker when the test binary dies
// (a go test timeout exits without running cleanups), so no broker outlives
// its test run holding ports and CPU.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
