// Package sitefixture builds small, complete site packages (a generated
// paper sealed with a fresh key, candidates, proctors, a photo) for the site
// node's tests and the browser walk-through; it writes them as a package
// folder that `jnedu site load` reads.
package sitefixture

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/crypto/argon2"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/paper"
)

// Options shape the package.
type Options struct {
	Site       string // default "E-T01"
	Exam       string // default "2027-ZK"
	Session    string // default "S1"
	Candidates int    // default 4 (numbers 2027000001…)
	Seats      int    // default Candidates
	Spare      int    // default 2
	PrepSec    int    // default 1
	AnswerSec  int    // default 3
	Spoken     int    // spoken items (default 2)
	StartsAt   time.Time
	EndsAt     time.Time
	Revision   int64  // default 1
	Password   string // of the proctors "chief" (chief) and "proctor"; default "proctor-pass-1"
}

// Fixture is a built package with what a test needs to drive it.
type Fixture struct {
	Package bundle.SitePackage
	Doc     []byte
	Blobs   map[string][]byte
	Key     bundle.Key
	Paper   paper.Paper
	Numbers []string
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Tone is a WAV (16 kHz mono 16-bit) sine of freq Hz for ms milliseconds.
func Tone(freq float64, ms int) []byte {
	n := 16000 * ms / 1000
	pcm := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		v := int16(8000 * math.Sin(2*math.Pi*freq*float64(i)/16000))
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(v))
	}
	hdr := make([]byte, 44)
	copy(hdr, "RIFF")
	binary.LittleEndian.PutUint32(hdr[4:], uint32(36+len(pcm)))
	copy(hdr[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(hdr[16:], 16)
	binary.LittleEndian.PutUint16(hdr[20:], 1)
	binary.LittleEndian.PutUint16(hdr[22:], 1)
	binary.LittleEndian.PutUint32(hdr[24:], 16000)
	binary.LittleEndian.PutUint32(hdr[28:], 32000)
	binary.LittleEndian.PutUint16(hdr[32:], 2)
	binary.LittleEndian.PutUint16(hdr[34:], 16)
	copy(hdr[36:], "data")
	binary.LittleEndian.PutUint32(hdr[40:], uint32(len(pcm)))
	return append(hdr, pcm...)
}

// photo is a 1×1 PNG.
var photo = []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")

// Build makes the package.
func Build(o Options) (*Fixture, error) {
	if o.Site == "" {
		o.Site = "E-T01"
	}
	if o.Exam == "" {
		o.Exam = "2027-ZK"
	}
	if o.Session == "" {
		o.Session = "S1"
	}
	if o.Candidates <= 0 {
		o.Candidates = 4
	}
	if o.Seats <= 0 {
		o.Seats = o.Candidates
	}
	if o.Spare == 0 {
		o.Spare = 2
	}
	if o.PrepSec == 0 {
		o.PrepSec = 1
	}
	if o.AnswerSec <= 0 {
		o.AnswerSec = 3
	}
	if o.Spoken <= 0 {
		o.Spoken = 2
	}
	if o.StartsAt.IsZero() {
		o.StartsAt = time.Now().Add(-time.Minute)
	}
	if o.EndsAt.IsZero() {
		o.EndsAt = time.Now().Add(6 * time.Hour)
	}
	if o.Revision == 0 {
		o.Revision = 1
	}
	if o.Password == "" {
		o.Password = "proctor-pass-1"
	}
	f := &Fixture{Blobs: map[string][]byte{}}
	prompt := Tone(440, 600)
	ps := sum(prompt)
	zero := 1
	p := paper.Paper{Code: o.Exam + "-A", Title: "2027年济南市初中英语听说考试 A卷", Variant: "A",
		Sections: []paper.Section{
			{Title: "第一节 听后选择", Items: []paper.Item{{ID: "s1i1", Type: paper.ListenChoose, Plays: 1, Points: 1,
				Prompt:  paper.Prompt{Text: "Where is Tom going?", Audio: ps},
				Options: []string{"To school", "To the park", "Home"}, Answer: &zero}}},
		}}
	sec := paper.Section{Title: "第二节 朗读短文", NoBack: true}
	for i := 1; i <= o.Spoken; i++ {
		sec.Items = append(sec.Items, paper.Item{ID: fmt.Sprintf("s2i%d", i), Type: paper.ReadAloud, Plays: 1,
			PrepSec: o.PrepSec, AnswerSec: o.AnswerSec, Points: 5,
			Prompt: paper.Prompt{Text: "Read aloud: The quick brown fox jumps over the lazy dog.", Audio: ps},
			Rubric: paper.Rubric{ReferenceText: "The quick brown fox jumps over the lazy dog."}})
	}
	p.Sections = append(p.Sections, sec)
	if probs := p.Validate(); len(probs) > 0 {
		return nil, fmt.Errorf("fixture paper: %v", probs)
	}
	f.Paper = p
	pj, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	pf, err := json.Marshal(bundle.PaperFile{Paper: pj, Files: map[string][]byte{ps: prompt}})
	if err != nil {
		return nil, err
	}
	if f.Key, err = bundle.NewKey(); err != nil {
		return nil, err
	}
	sealed, err := bundle.Seal(f.Key, pf, bundle.PaperAD(o.Exam, o.Session, "A"))
	if err != nil {
		return nil, err
	}
	f.Blobs[sum(sealed)] = sealed
	f.Blobs[sum(photo)] = photo
	pkg := bundle.SitePackage{Format: bundle.Format, Exam: bundle.Exam{Code: o.Exam, Title: "2027年济南市初中英语听说考试"},
		Site: bundle.Site{Code: o.Site, Name: "济南市第一中学考点"},
		Sessions: []bundle.Session{{Code: o.Session, Title: "第1场", StartsAt: o.StartsAt.UnixMilli(), EndsAt: o.EndsAt.UnixMilli(),
			KeyCheck: bundle.KeyCheck(f.Key),
			Papers:   []bundle.SealedPaper{{Variant: "A", Code: p.Code, Blob: sum(sealed), Size: int64(len(sealed))}}}},
		Rooms:     []bundle.Room{{Code: "01", Name: "第01考场", Seats: o.Seats, Spare: o.Spare}},
		CreatedAt: time.Now().UnixMilli(), Revision: o.Revision}
	for i := 1; i <= o.Candidates; i++ {
		num := fmt.Sprintf("2027%06d", i)
		f.Numbers = append(f.Numbers, num)
		pkg.Candidates = append(pkg.Candidates, bundle.Candidate{Number: num, Name: fmt.Sprintf("考生%02d", i), School: "济南市第一中学",
			IDMasked: "3701**********" + fmt.Sprintf("%04d", i), Photo: sum(photo), Session: o.Session, Room: "01", Seat: i, Variant: "A"})
	}
	salt := []byte("fixture-salt-16b")
	pkg.Staff = []bundle.Staff{
		{Username: "chief", Name: "王主考", PasswordHash: hashPassword(o.Password, salt), Chief: true},
		{Username: "proctor", Name: "李监考", PasswordHash: hashPassword(o.Password, salt)},
	}
	for b := range f.Blobs {
		pkg.Blobs = append(pkg.Blobs, b)
	}
	f.Package = pkg
	if f.Doc, err = json.Marshal(pkg); err != nil {
		return nil, err
	}
	return f, nil
}

// WriteFolder writes DIR/package.json and DIR/blobs/<sha256>.
func (f *Fixture) WriteFolder(dir string) error {
	if err := os.MkdirAll(filepath.Join(dir, "blobs"), 0o750); err != nil {
		return err
	}
	for s, b := range f.Blobs {
		if err := os.WriteFile(filepath.Join(dir, "blobs", s), b, 0o600); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "package.json"), f.Doc, 0o600)
}

// hashPassword makes an argon2id PHC verifier as the center stores it.
func hashPassword(pw string, salt []byte) string {
	key := argon2.IDKey([]byte(pw), salt, 2, 19456, 1, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=19456,t=2,p=1$%s$%s", argon2.Version, b64.EncodeToString(salt), b64.EncodeToString(key))
}
