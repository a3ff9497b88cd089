//go:build !purego

#include "textflag.h"

// func crc32c3(a, b, c []byte) (x, y, z uint32)
//
// The CRC-32C of each of a, b and c. The CRC32 instruction takes three
// cycles and depends on the one before it, so one stream runs at a third
// of the processor's pace; three streams side by side keep it busy. The
// words all three still have are taken together, then each stream's
// rest, a word and then a byte at a time.
TEXT ·crc32c3(SB), NOSPLIT, $0-84
	MOVQ a_base+0(FP), SI
	MOVQ a_len+8(FP), R9
	MOVQ b_base+24(FP), DI
	MOVQ b_len+32(FP), R10
	MOVQ c_base+48(FP), R8
	MOVQ c_len+56(FP), R11
	MOVL $0xffffffff, AX
	MOVL AX, BX
	MOVL AX, DX

	// CX: the words of the shortest.
	MOVQ R9, CX
	CMPQ R10, CX
	CMOVQLT R10, CX
	CMPQ R11, CX
	CMOVQLT R11, CX
	SHRQ $3, CX
	JZ rest_a
	MOVQ CX, R12
	SHLQ $3, R12
	SUBQ R12, R9
	SUBQ R12, R10
	SUBQ R12, R11

three:
	CRC32Q (SI), AX
	CRC32Q (DI), BX
	CRC32Q (R8), DX
	ADDQ $8, SI
	ADDQ $8, DI
	ADDQ $8, R8
	DECQ CX
	JNZ three

rest_a:
	CMPQ R9, $8
	JLT bytes_a
	CRC32Q (SI), AX
	ADDQ $8, SI
	SUBQ $8, R9
	JMP rest_a

bytes_a:
	TESTQ R9, R9
	JZ rest_b
	CRC32B (SI), AX
	INCQ SI
	DECQ R9
	JMP bytes_a

rest_b:
	CMPQ R10, $8
	JLT bytes_b
	CRC32Q (DI), BX
	ADDQ $8, DI
	SUBQ $8, R10
	JMP rest_b

bytes_b:
	TESTQ R10, R10
	JZ rest_c
	CRC32B (DI), BX
	INCQ DI
	DECQ R10
	JMP bytes_b

rest_c:
	CMPQ R11, $8
	JLT bytes_c
	CRC32Q (R8), DX
	ADDQ $8, R8
	SUBQ $8, R11
	JMP rest_c

bytes_c:
	TESTQ R11, R11
	JZ done
	CRC32B (R8), DX
	INCQ R8
	DECQ R11
	JMP bytes_c

done:
	NOTL AX
	NOTL BX
	NOTL DX
	MOVL AX, x+72(FP)
	MOVL BX, y+76(FP)
	MOVL DX, z+80(FP)
	RET
