package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// copyXattrs gives the new file dst the extended attributes of the
// original src that a replace would otherwise drop: the user namespace
// (user.*), which must copy, and the security labels (security.*, e.g.
// an SELinux or Smack label), which copy where the process is permitted
// to set them. The system namespace (ACLs) and trusted.* are left alone.
// It returns the operation that failed with its error.
func copyXattrs(src, dst File) (string, error) {
	names, err := listXattrs(int(src.Fd()))
	if err != nil || len(names) == 0 {
		// A filesystem without extended attributes has none to keep.
		if err != nil && !errors.Is(err, unix.ENOTSUP) {
			return "list the extended attributes of the original for", err
		}
		return "", nil
	}
	buf := make([]byte, 256)
	for _, name := range names {
		user := strings.HasPrefix(name, "user.")
		if !user && !strings.HasPrefix(name, "security.") {
			continue
		}
		val, err := getXattr(int(src.Fd()), name, &buf)
		if err == nil {
			err = unix.Fsetxattr(int(dst.Fd()), name, val, 0)
		}
		if err != nil && (user || !permissionError(err)) {
			return fmt.Sprintf("copy the extended attribute %s to", name), err
		}
	}
	return "", nil
}

// permissionError reports whether err says the process may not set an
// attribute (or the filesystem cannot hold it).
func permissionError(err error) bool {
	return errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.ENOTSUP)
}

// listXattrs lists the names of fd's extended attributes.
func listXattrs(fd int) ([]string, error) {
	size := 256
	for {
		buf := make([]byte, size)
		n, err := unix.Flistxattr(fd, buf)
		if errors.Is(err, unix.ERANGE) {
			size *= 4
			continue
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for _, b := range bytes.Split(buf[:n], []byte{0}) {
			if len(b) > 0 {
				names = append(names, string(b))
			}
		}
		return names, nil
	}
}

// getXattr reads one attribute's value into *buf, growing it as needed.
func getXattr(fd int, name string, buf *[]byte) ([]byte, error) {
	for {
		n, err := unix.Fgetxattr(fd, name, *buf)
		if errors.Is(err, unix.ERANGE) {
			*buf = make([]byte, 4*len(*buf))
			continue
		}
		if err != nil {
			return nil, err
		}
		return (*buf)[:n], nil
	}
}
