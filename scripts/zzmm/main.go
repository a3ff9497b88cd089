package main

import (
	"fmt"
	"io"
	"os"
	"syscall"

	"github.com/lockfix/lockfix/schema"
	_ "github.com/lockfix/lockfix/schema/all"
)

func main() {
	f, _ := os.Open(os.Args[1])
	st, _ := f.Stat()
	size := int(st.Size())
	var b []byte
	switch os.Getenv("MODE") {
	case "read":
		b, _ = os.ReadFile(os.Args[1])
	case "huge", "pop":
		flags := syscall.MAP_PRIVATE | syscall.MAP_ANON
		if os.Getenv("MODE") == "pop" {
			flags |= syscall.MAP_POPULATE
		}
		var err error
		b, err = syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, flags)
		if err != nil {
			panic(err)
		}
		if os.Getenv("MODE") == "huge" {
			if err := syscall.Madvise(b, 14); err != nil { // MADV_HUGEPAGE
				panic(err)
			}
		}
		if _, err := io.ReadFull(f, b); err != nil {
			panic(err)
		}
	default:
		var err error
		b, err = syscall.Mmap(int(f.Fd()), 0, size, syscall.PROT_READ, syscall.MAP_SHARED)
		if err != nil {
			panic(err)
		}
	}
	if os.Getenv("FLOOR") != "" {
		fmt.Println(schema.CRC64Update(0, b))
		return
	}
	s, err := schema.Sniff(b[:8])
	if err != nil {
		panic(err)
	}
	errs := s.Check(b)
	fmt.Println(len(errs))
}
