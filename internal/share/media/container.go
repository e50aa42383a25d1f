package media

import (
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strings"
)

// checkComplete catches a file cut short whose header still claims the
// full length: an MP4 written with its index first (faststart), a Matroska
// file with a known segment size. ffprobe reads only the beginning, so it
// accepts such files, and ffmpeg would silently stop early. Other formats
// are not checked here; the length of what was produced is checked after
// each run.
func checkComplete(path, format string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	defer f.Close()
	var missing int64
	switch {
	case strings.HasPrefix(format, "mov,"):
		missing, err = mp4Missing(f, size)
	case strings.HasPrefix(format, "matroska"):
		missing, err = matroskaMissing(f, size)
	}
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if missing > 0 {
		return newError(ErrCorrupt, "the file ends %d bytes early (upload cut short?)", missing)
	}
	return nil
}

// mp4Missing walks the top-level boxes and returns how many bytes the last
// one lacks.
func mp4Missing(r io.ReaderAt, size int64) (int64, error) {
	var hdr [16]byte
	for off, n := int64(0), 0; off < size && n < 1_000_000; n++ {
		if size-off < 8 {
			return 0, nil // trailing padding
		}
		if _, err := r.ReadAt(hdr[:8], off); err != nil {
			return 0, err
		}
		boxSize := int64(binary.BigEndian.Uint32(hdr[:4]))
		if !printable(hdr[4:8]) {
			return 0, nil // not a box: trailing bytes some cameras leave
		}
		switch boxSize {
		case 0: // up to the end of the file
			return 0, nil
		case 1:
			if _, err := r.ReadAt(hdr[8:16], off+8); err != nil {
				return 0, nil
			}
			boxSize = int64(binary.BigEndian.Uint64(hdr[8:16]))
		}
		if boxSize < 8 {
			return 0, nil
		}
		if off+boxSize > size {
			return off + boxSize - size, nil
		}
		off += boxSize
	}
	return 0, nil
}

// startsLikeMP4 reports whether the file begins with an MP4/QuickTime box
// (as opposed to anything else that merely carries a .mp4 name).
func startsLikeMP4(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var hdr [8]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return false
	}
	switch string(hdr[4:8]) {
	case "ftyp", "moov", "mdat", "free", "skip", "wide", "pnot", "uuid", "styp":
		return binary.BigEndian.Uint32(hdr[:4]) >= 8 || binary.BigEndian.Uint32(hdr[:4]) <= 1
	}
	return false
}

func printable(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			return false
		}
	}
	return true
}

// matroskaMissing reads the EBML header and the Segment's declared size.
func matroskaMissing(r io.ReaderAt, size int64) (int64, error) {
	off := int64(0)
	for _, want := range []uint32{0x1A45DFA3, 0x18538067} { // EBML, Segment
		id, n, err := ebmlID(r, off)
		if err != nil || id != want {
			return 0, nil // not what we expect: let ffmpeg judge
		}
		off += int64(n)
		length, n, unknown, err := ebmlSize(r, off)
		if err != nil {
			return 0, nil
		}
		off += int64(n)
		if want == 0x18538067 {
			if unknown || off+length <= size {
				return 0, nil
			}
			return off + length - size, nil
		}
		off += length
	}
	return 0, nil
}

// ebmlID reads an element ID (1–4 bytes, marker bit kept).
func ebmlID(r io.ReaderAt, off int64) (uint32, int, error) {
	var b [4]byte
	if _, err := r.ReadAt(b[:1], off); err != nil {
		return 0, 0, err
	}
	n := vintLen(b[0])
	if n == 0 || n > 4 {
		return 0, 0, io.ErrUnexpectedEOF
	}
	if _, err := r.ReadAt(b[:n], off); err != nil {
		return 0, 0, err
	}
	var id uint32
	for _, c := range b[:n] {
		id = id<<8 | uint32(c)
	}
	return id, n, nil
}

// ebmlSize reads a data size (1–8 bytes); all value bits set means unknown.
func ebmlSize(r io.ReaderAt, off int64) (size int64, n int, unknown bool, err error) {
	var b [8]byte
	if _, err := r.ReadAt(b[:1], off); err != nil {
		return 0, 0, false, err
	}
	n = vintLen(b[0])
	if n == 0 {
		return 0, 0, false, io.ErrUnexpectedEOF
	}
	if _, err := r.ReadAt(b[:n], off); err != nil {
		return 0, 0, false, err
	}
	v := uint64(b[0] & (0xFF >> n))
	allOnes := v == uint64(0xFF>>n)
	for _, c := range b[1:n] {
		v = v<<8 | uint64(c)
		allOnes = allOnes && c == 0xFF
	}
	if allOnes || v > 1<<62 {
		return 0, n, true, nil
	}
	return int64(v), n, false, nil
}

// vintLen is the length of an EBML variable-size integer from its first
// byte (the position of the first set bit), 0 if invalid.
func vintLen(b byte) int {
	for i := 0; i < 8; i++ {
		if b&(0x80>>i) != 0 {
			return i + 1
		}
	}
	return 0
}
