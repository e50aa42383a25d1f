package sphinx

/*
#cgo pkg-config: pocketsphinx sphinxbase
#include <stdlib.h>
#include <pocketsphinx.h>
#include <sphinxbase/err.h>

// jn_init builds a decoder from an argument vector; NULL on failure.
static ps_decoder_t *jn_init(int argc, char **argv) {
	cmd_ln_t *cfg = cmd_ln_parse_r(NULL, ps_args(), argc, argv, TRUE);
	if (cfg == NULL) return NULL;
	ps_decoder_t *ps = ps_init(cfg);
	cmd_ln_free_r(cfg);
	return ps;
}

// jn_set_jsgf_wide compiles a JSGF grammar into a search whose beams are
// set apart from the decoder's (a search reads them when it is made).
static int jn_set_jsgf_wide(ps_decoder_t *ps, const char *name, const char *grammar, double beam) {
	cmd_ln_t *cfg = ps_get_config(ps);
	double b = cmd_ln_float_r(cfg, "-beam"), pb = cmd_ln_float_r(cfg, "-pbeam"), wb = cmd_ln_float_r(cfg, "-wbeam");
	cmd_ln_set_float_r(cfg, "-beam", beam);
	cmd_ln_set_float_r(cfg, "-pbeam", beam);
	cmd_ln_set_float_r(cfg, "-wbeam", beam);
	int rv = ps_set_jsgf_string(ps, name, grammar);
	cmd_ln_set_float_r(cfg, "-beam", b);
	cmd_ln_set_float_r(cfg, "-pbeam", pb);
	cmd_ln_set_float_r(cfg, "-wbeam", wb);
	return rv;
}

typedef struct {
	const char *word;
	int sf, ef;
	int ascr;
} jn_seg;

// jn_decode runs one utterance through the active search and copies its
// best path into segs (at most cap); it returns the number of segments,
// or -1 when the decoder failed, and the number of frames in *nfr.
static int jn_decode(ps_decoder_t *ps, const char *search, const int16 *pcm, size_t n, jn_seg *segs, int cap, int *nfr) {
	if (ps_set_search(ps, search) < 0) return -2;
	if (ps_start_utt(ps) < 0) return -1;
	if (ps_process_raw(ps, pcm, n, FALSE, TRUE) < 0) { ps_end_utt(ps); return -1; }
	if (ps_end_utt(ps) < 0) return -1;
	*nfr = ps_get_n_frames(ps);
	int32 score;
	if (ps_get_hyp(ps, &score) == NULL) return 0;
	int k = 0;
	ps_seg_t *it;
	for (it = ps_seg_iter(ps); it != NULL && k < cap; it = ps_seg_next(it)) {
		int32 ascr = 0, lscr = 0, lback = 0;
		segs[k].word = ps_seg_word(it);
		ps_seg_frames(it, &segs[k].sf, &segs[k].ef);
		ps_seg_prob(it, &ascr, &lscr, &lback);
		segs[k].ascr = ascr;
		k++;
	}
	if (it != NULL) ps_seg_free(it);
	return k;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"unsafe"
)

// decoder is one PocketSphinx decoder. It is not safe for concurrent use:
// the Engine hands each to one goroutine at a time.
type decoder struct {
	ps     *C.ps_decoder_t
	lnBase float64 // natural log of the logmath base: score units → nats
}

// seg is one segment of a best path.
type seg struct {
	Word     string
	From, To int // frames, To inclusive as PocketSphinx reports it
	Ascr     float64
}

func newDecoder(args []string) (*decoder, error) {
	argv := make([]*C.char, len(args)+1)
	for i, a := range args {
		argv[i] = C.CString(a)
	}
	defer func() {
		for _, p := range argv[:len(args)] {
			C.free(unsafe.Pointer(p))
		}
	}()
	ps := C.jn_init(C.int(len(args)), &argv[0])
	if ps == nil {
		return nil, errors.New("sphinx: the decoder did not start (model or dictionary missing?)")
	}
	lm := C.ps_get_logmath(ps)
	base := float64(C.logmath_get_base(lm))
	// Senone scores are kept shifted right by SENSCR_SHIFT (10 bits) in
	// logmath units; undo both to get nats.
	return &decoder{ps: ps, lnBase: logOf(base) * 1024}, nil
}

func (d *decoder) close() {
	if d.ps != nil {
		C.ps_free(d.ps)
		d.ps = nil
	}
}

// addWord adds a word with a pronunciation ("AH B") to the dictionary.
func (d *decoder) addWord(word, phones string) error {
	cw, cp := C.CString(word), C.CString(phones)
	defer C.free(unsafe.Pointer(cw))
	defer C.free(unsafe.Pointer(cp))
	if C.ps_add_word(d.ps, cw, cp, 1) < 0 {
		return fmt.Errorf("sphinx: cannot add word %q /%s/", word, phones)
	}
	return nil
}

// setJSGF compiles a JSGF grammar into the search called name.
func (d *decoder) setJSGF(name, grammar string) error {
	cn, cg := C.CString(name), C.CString(grammar)
	defer C.free(unsafe.Pointer(cn))
	defer C.free(unsafe.Pointer(cg))
	if C.ps_set_jsgf_string(d.ps, cn, cg) < 0 {
		return fmt.Errorf("sphinx: grammar not accepted")
	}
	return nil
}

// setJSGFWide is setJSGF with all three beams set to beam (a
// probability, e.g. 1e-300) for this search only.
func (d *decoder) setJSGFWide(name, grammar string, beam float64) error {
	cn, cg := C.CString(name), C.CString(grammar)
	defer C.free(unsafe.Pointer(cn))
	defer C.free(unsafe.Pointer(cg))
	if C.jn_set_jsgf_wide(d.ps, cn, cg, C.double(beam)) < 0 {
		return fmt.Errorf("sphinx: grammar not accepted")
	}
	return nil
}

func (d *decoder) unset(name string) {
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	C.ps_unset_search(d.ps, cn)
}

const maxSegs = 8192

// decode runs pcm (16 kHz mono) through the search called name.
func (d *decoder) decode(name string, pcm []int16) ([]seg, int, error) {
	if len(pcm) == 0 {
		return nil, 0, nil
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	buf := (*C.jn_seg)(C.malloc(C.size_t(maxSegs) * C.size_t(unsafe.Sizeof(C.jn_seg{}))))
	defer C.free(unsafe.Pointer(buf))
	// The samples are copied to C memory: cgo forbids C keeping Go
	// pointers, and PocketSphinx may hold the buffer (-rawdata).
	cpcm := (*C.int16)(C.malloc(C.size_t(len(pcm)) * 2))
	defer C.free(unsafe.Pointer(cpcm))
	addNoiseFloor(unsafe.Slice((*int16)(unsafe.Pointer(cpcm)), len(pcm)), pcm)
	var nfr C.int
	n := C.jn_decode(d.ps, cn, cpcm, C.size_t(len(pcm)), buf, maxSegs, &nfr)
	switch {
	case n == -2:
		return nil, 0, fmt.Errorf("sphinx: no search %q", name)
	case n < 0:
		return nil, 0, errors.New("sphinx: decoding failed")
	}
	cs := unsafe.Slice(buf, int(n))
	out := make([]seg, 0, int(n))
	for _, s := range cs {
		out = append(out, seg{Word: C.GoString(s.word), From: int(s.sf), To: int(s.ef), Ascr: float64(s.ascr) * d.lnBase})
	}
	return out, int(nfr), nil
}

// addNoiseFloor copies pcm into dst with a faint, fixed (seeded) noise of
// about −66 dBFS added: a quiet room's floor. Without it, digital silence
// and band-limited audio (8 kHz, MP3) leave filter-bank channels empty,
// their log energies wreck the cepstral mean, and the search finds no
// path at all. Real recordings are far noisier than this floor.
func addNoiseFloor(dst, pcm []int16) {
	r := rand.New(rand.NewPCG(0x6a6e, 0x6564))
	for i, s := range pcm {
		v := int32(s) + int32(r.NormFloat64()*16)
		dst[i] = int16(max(-32768, min(32767, v)))
	}
}
