package migrate

import (
	"errors"
	"fmt"

	"github.com/lockfix/lockfix/schema"
)

// PieceCheck is the check of Verify(e) for new bytes that are written in
// pieces and never held whole (atomicfile.Pieces): the records of each
// piece are checked as CheckKnown checks them, and compared with e's
// packages in the same pass (Piece, on several goroutines at once), then
// the pieces are taken in file order (Add: the order across pieces, the
// array's size and CRC-64), and the header last (End). It is Verify's
// rule: the same sniff, strict check, config, writer and packages.
type PieceCheck struct {
	e     Expect
	check *schema.ArrayCheck
	s     *schema.Schema
}

// VerifyPieces starts the check of new bytes of s, with count records,
// against e. An edit of e.Old is checked whole (Verify).
func VerifyPieces(e Expect, s *schema.Schema, count int) (*PieceCheck, error) {
	if e.Old != nil {
		return nil, errors.New("an edit's new bytes are checked whole")
	}
	if e.Version >= 0 && s.Version != e.Version {
		return nil, fmt.Errorf("%w: the new bytes are version %d, want %d", ErrMismatch, s.Version, e.Version)
	}
	return &PieceCheck{e: e, s: s, check: s.NewArrayCheck(count, e.known())}, nil
}

// Piece checks piece, the n records first..first+n-1 of the new bytes;
// it returns what Add takes (see schema.ArrayCheck.CheckPiece). It may
// run on several goroutines.
func (v *PieceCheck) Piece(piece []byte, first, n int) ([]error, int) {
	return v.check.CheckPiece(piece, first, n)
}

// Add takes the next piece in file order, with what Piece returned for
// it; it reports whether the new bytes are clean so far.
func (v *PieceCheck) Add(piece []byte, n, last int, errs []error) bool {
	v.check.Add(piece, n, last, errs)
	return v.check.Clean()
}

// End checks header, the new bytes' header, once every piece is added:
// the error of Verify(e) for the whole new bytes.
func (v *PieceCheck) End(header []byte) error {
	s, err := v.e.schemaOf(header)
	if err != nil {
		return err
	}
	if s != v.s {
		return fmt.Errorf("%w: the header is version %d, the records version %d's", ErrMismatch, s.Version, v.s.Version)
	}
	if problems := v.check.End(header); len(problems) > 0 {
		return &InvalidError{Version: s.Version, Problems: problems}
	}
	return v.e.holds(s, header)
}
