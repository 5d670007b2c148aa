package vfs

import (
	"os"

	"golang.org/x/sys/unix"
)

// SyncFS implements WholeSyncer with syncfs(2): one call writes back every
// dirty file and directory on the file system and commits its journal.
func (osFS) SyncFS(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = unix.Syncfs(int(d.Fd()))
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return &os.PathError{Op: "syncfs", Path: dir, Err: err}
	}
	return nil
}

// FSID implements WholeSyncer: the device number of the file system.
func (osFS) FSID(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return st.Dev, nil
}
