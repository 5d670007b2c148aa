//go:build !unix

package vfs

import (
	"io"
	"os"
)

// lockFile only creates the lock file on platforms without flock. The broker
// targets unix; this keeps the package building elsewhere.
func lockFile(name string) (io.Closer, error) {
	return os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
}
