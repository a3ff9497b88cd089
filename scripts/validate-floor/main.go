// Command validate-floor is the floor that 'lockfix validate' is measured
// against in scripts/bench-validate.sh: it reads each file named on the
// command line and computes one CRC-64/NVME over it, as a process of its
// own, so that both sides pay for starting, reading and exiting.
//
//	validate-floor FILE...
package main

import (
	"fmt"
	"os"

	"github.com/minio/crc64nvme"
)

func main() {
	for _, path := range os.Args[1:] {
		b, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "validate-floor:", err)
			os.Exit(1)
		}
		fmt.Printf("%s: %d bytes, CRC-64/NVME 0x%016x\n", path, len(b), crc64nvme.Checksum(b))
	}
}
