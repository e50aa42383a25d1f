// Package bundle holds what travels between the exam center and its site
// nodes (考点): the site package downloaded before the exam (roster and
// sealed papers), the session key that opens the papers, and the signed
// answer package sent back after each session. Both sides use these types
// and functions; nothing here touches a database or the network.
package bundle

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Format is the version of the formats below; a reader refuses others.
const Format = 1

// SitePackage is everything a site node needs before the exam, for one
// site: who sits where, which paper each session uses (sealed), and the
// proctors who may sign in to the site node.
type SitePackage struct {
	Format     int         `json:"format"`
	Exam       Exam        `json:"exam"`
	Site       Site        `json:"site"`
	Sessions   []Session   `json:"sessions"`
	Rooms      []Room      `json:"rooms"`
	Candidates []Candidate `json:"candidates"`
	Staff      []Staff     `json:"staff"`
	// Blobs lists the SHA-256 of every file the site fetches besides this
	// document: candidate photos and the sealed papers.
	Blobs     []string `json:"blobs"`
	CreatedAt int64    `json:"created_at"` // Unix ms
	// Revision increases each time the center changes what this site gets;
	// a site node keeps the newest it has seen and refuses an older one.
	Revision int64 `json:"revision"`
}

// Exam identifies the exam.
type Exam struct {
	Code  string `json:"code"`  // "2027-ZK"
	Title string `json:"title"` // 2027年济南市初中英语听说考试
}

// Site identifies the exam site: the organisation code of the 考点.
type Site struct {
	Code string `json:"code"` // "E-LW01"
	Name string `json:"name"`
}

// Session is one sitting (场次) at this site.
type Session struct {
	Code     string `json:"code"` // "S1"
	Title    string `json:"title"`
	StartsAt int64  `json:"starts_at"` // Unix ms
	EndsAt   int64  `json:"ends_at"`
	// Papers are the session's paper variants, each sealed with the
	// session key (one key per session and site).
	Papers []SealedPaper `json:"papers"`
	// KeyCheck identifies the session key without revealing it (see
	// KeyCheck); a site node refuses a key that does not match.
	KeyCheck string `json:"key_check"`
}

// SealedPaper is one paper variant, encrypted. The plaintext is a
// PaperFile (the paper and its prompt audio and images).
type SealedPaper struct {
	Variant string `json:"variant"` // "A", "B", …, "S" (spare)
	Code    string `json:"code"`    // the paper's code
	Blob    string `json:"blob"`    // SHA-256 of the sealed bytes (fetched like any blob)
	Size    int64  `json:"size"`
}

// Room is an exam room (考场) of the site.
type Room struct {
	Code  string `json:"code"` // "01"
	Name  string `json:"name"` // 第01考场
	Seats int    `json:"seats"`
	// Spare seats (备用机位) are numbered after the regular ones.
	Spare int `json:"spare"`
}

// Candidate is one candidate (考生) in one session at this site.
type Candidate struct {
	Number   string `json:"number"` // 准考证号
	Name     string `json:"name"`
	School   string `json:"school"`
	IDMasked string `json:"id_masked"` // 3701**********1234: never the full number
	// IDCheck is a salted hash of the full ID-card number, for confirming
	// identity at sign-in without shipping the number.
	IDCheck string `json:"id_check,omitempty"`
	Photo   string `json:"photo,omitempty"` // SHA-256 of the photo
	Session string `json:"session"`         // session code
	Room    string `json:"room"`            // room code
	Seat    int    `json:"seat"`
	Variant string `json:"variant"` // which paper variant this candidate takes
}

// Staff is a person who may sign in to the site node's proctor console.
type Staff struct {
	Username string `json:"username"`
	Name     string `json:"name"`
	// PasswordHash is the person's password verifier as the center keeps
	// it (argon2id, PHC string), so proctors sign in without the network.
	PasswordHash string `json:"password_hash"`
	Chief        bool   `json:"chief"` // may enter a sealed key and end sessions
}

// IDCheck computes Candidate.IDCheck: a salted hash of the full ID-card
// number (the exam and admission number are the salt), so a site node can
// confirm what a candidate types without holding the number.
func IDCheck(exam, number, id string) string {
	h := sha256.Sum256([]byte("jnedu exam id check v1|" + exam + "|" + number + "|" + strings.ToUpper(strings.TrimSpace(id))))
	return hex.EncodeToString(h[:16])
}

// PaperFile is the plaintext of a sealed paper.
type PaperFile struct {
	Paper json.RawMessage `json:"paper"` // a paper.Paper
	// Files are the prompt audio and images by SHA-256.
	Files map[string][]byte `json:"files"`
}

// Limits on what a reader accepts.
const (
	MaxPackageBytes = 64 << 20  // a site package document
	MaxSealedBytes  = 512 << 20 // one sealed paper
	MaxManifest     = 64 << 20  // an answer manifest
)

// Errors a reader reports; callers map them to clear messages.
var (
	ErrFormat    = errors.New("bundle: unknown format")
	ErrKey       = errors.New("bundle: the key does not match this session")
	ErrSealed    = errors.New("bundle: sealed data is damaged or was altered")
	ErrCode      = errors.New("bundle: the sealed code is mistyped")
	ErrSignature = errors.New("bundle: signature does not verify")
)

// Key is a session key: AES-256.
type Key [32]byte

// NewKey makes a random key.
func NewKey() (Key, error) {
	var k Key
	_, err := io.ReadFull(rand.Reader, k[:])
	return k, err
}

// KeyCheck is a public fingerprint of the key: a site node compares it
// with the package's before using a key, so a wrong key is refused with a
// clear message instead of a failed decryption.
func KeyCheck(k Key) string {
	m := hmac.New(sha256.New, k[:])
	m.Write([]byte("jnedu exam key check v1"))
	return hex.EncodeToString(m.Sum(nil)[:8])
}

// Seal encrypts plaintext with AES-256-GCM under k. The associated data
// binds the ciphertext to where it belongs (exam, session, variant), so a
// sealed paper cannot be swapped for another sealed under the same key.
func Seal(k Key, plaintext []byte, ad string) ([]byte, error) {
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, g.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, err
	}
	out := append([]byte("JNX1"), nonce...)
	return g.Seal(out, nonce, plaintext, []byte(ad)), nil
}

// Open decrypts what Seal made; it fails with ErrSealed when a byte was
// changed or the associated data differs.
func Open(k Key, sealed []byte, ad string) ([]byte, error) {
	block, err := aes.NewCipher(k[:])
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	if len(sealed) < 4+g.NonceSize()+g.Overhead() || string(sealed[:4]) != "JNX1" {
		return nil, ErrSealed
	}
	nonce := sealed[4 : 4+g.NonceSize()]
	pt, err := g.Open(nil, nonce, sealed[4+g.NonceSize():], []byte(ad))
	if err != nil {
		return nil, ErrSealed
	}
	return pt, nil
}

// PaperAD is the associated data of a sealed paper.
func PaperAD(exam, session, variant string) string {
	return "jnedu exam paper v1|" + exam + "|" + session + "|" + variant
}

// Crockford's base32 alphabet: no I, L, O, U; what a person types is
// read leniently (i/l → 1, o → 0, lower case, spaces and dashes ignored).
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// SealedCode spells a key for printing in a sealed envelope (密封码): 52
// base32 characters for the key and 4 of checksum, in groups of four.
func SealedCode(k Key) string {
	sum := sha256.Sum256(k[:])
	raw := append(k[:], sum[:3]...) // 35 bytes = 280 bits = 56 chars
	var b strings.Builder
	var acc uint64
	bits := 0
	n := 0
	for _, c := range raw {
		acc = acc<<8 | uint64(c)
		bits += 8
		for bits >= 5 {
			bits -= 5
			if n > 0 && n%4 == 0 {
				b.WriteByte('-')
			}
			b.WriteByte(crockford[(acc>>uint(bits))&31])
			n++
		}
	}
	return b.String()
}

// ParseSealedCode reads what a person typed from the envelope.
func ParseSealedCode(s string) (Key, error) {
	var k Key
	var raw []byte
	var acc uint64
	bits := 0
	count := 0
	for _, r := range strings.ToUpper(s) {
		switch r {
		case ' ', '-', '\t':
			continue
		case 'I', 'L':
			r = '1'
		case 'O':
			r = '0'
		}
		i := strings.IndexRune(crockford, r)
		if i < 0 {
			return k, ErrCode
		}
		count++
		acc = acc<<5 | uint64(i)
		bits += 5
		if bits >= 8 {
			bits -= 8
			raw = append(raw, byte(acc>>uint(bits)))
		}
	}
	if count != 56 || len(raw) != 35 {
		return k, ErrCode
	}
	copy(k[:], raw[:32])
	sum := sha256.Sum256(k[:])
	if !hmac.Equal(sum[:3], raw[32:]) {
		return k, ErrCode
	}
	return k, nil
}

// EncodeKey and DecodeKey spell a key for the network (base64url).
func EncodeKey(k Key) string { return base64.RawURLEncoding.EncodeToString(k[:]) }

// DecodeKey reads EncodeKey's output.
func DecodeKey(s string) (Key, error) {
	var k Key
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) != len(k) {
		return k, ErrCode
	}
	copy(k[:], b)
	return k, nil
}

// AnswerManifest is what a site node reports after a session: every
// candidate, whether they sat, and each answer with the SHA-256 of its
// recording. Recordings travel as separate files named by their hash.
type AnswerManifest struct {
	Format     int               `json:"format"`
	Exam       string            `json:"exam"`
	Site       string            `json:"site"`
	Session    string            `json:"session"`
	CreatedAt  int64             `json:"created_at"` // Unix ms
	Candidates []CandidateResult `json:"candidates"`
}

// Candidate statuses in an answer manifest.
const (
	StatusFinished = "finished" // sat the whole paper
	StatusAbsent   = "absent"   // 缺考
	StatusAbnormal = "abnormal" // 异常: see Reason
	StatusPartial  = "partial"  // started, did not finish (the session ended)
)

// CandidateResult is one candidate's sitting.
type CandidateResult struct {
	Number  string   `json:"number"`
	Status  string   `json:"status"`
	Reason  string   `json:"reason,omitempty"`
	Variant string   `json:"variant"`
	Room    string   `json:"room"`
	Seat    int      `json:"seat"` // the seat they finished on
	Moves   []Move   `json:"moves,omitempty"`
	Answers []Answer `json:"answers"`
}

// Move records a candidate moved to a spare seat (断点续考).
type Move struct {
	At     int64  `json:"at"`
	From   int    `json:"from"`
	To     int    `json:"to"`
	Item   string `json:"item"` // the item they continued from
	Reason string `json:"reason,omitempty"`
}

// Answer is one item's answer.
type Answer struct {
	Item   string `json:"item"`
	Choice *int   `json:"choice,omitempty"` // objective items
	// Recording is the SHA-256 of the recording file (WAV, 16 kHz mono,
	// 16-bit), empty for objective items and unanswered spoken ones.
	Recording  string `json:"recording,omitempty"`
	Bytes      int64  `json:"bytes,omitempty"`
	DurationMs int64  `json:"duration_ms,omitempty"`
	// SpeechMs is how much of the recording is above the silence
	// threshold; Silent marks a recording with (almost) no speech.
	SpeechMs int64 `json:"speech_ms,omitempty"`
	Silent   bool  `json:"silent,omitempty"`
	Chunks   int   `json:"chunks,omitempty"`
}

// Files lists the recordings the manifest refers to, each once.
func (m *AnswerManifest) Files() []string {
	var out []string
	seen := map[string]bool{}
	for _, c := range m.Candidates {
		for _, a := range c.Answers {
			if a.Recording != "" && !seen[a.Recording] {
				seen[a.Recording] = true
				out = append(out, a.Recording)
			}
		}
	}
	return out
}

// Signed is a manifest with the site node's signature (Ed25519 over the
// exact bytes of Manifest).
type Signed struct {
	Manifest  json.RawMessage `json:"manifest"`
	KeyID     string          `json:"key_id"` // KeyID of the signing public key
	Signature string          `json:"signature"`
}

// KeyID names a public key: the first 16 hex digits of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:8])
}

// Sign marshals and signs m.
func Sign(priv ed25519.PrivateKey, m *AnswerManifest) (Signed, error) {
	if m.Format == 0 {
		m.Format = Format
	}
	b, err := json.Marshal(m)
	if err != nil {
		return Signed{}, err
	}
	return Signed{Manifest: b, KeyID: KeyID(priv.Public().(ed25519.PublicKey)),
		Signature: base64.StdEncoding.EncodeToString(ed25519.Sign(priv, b))}, nil
}

// Verify checks the signature with pub and decodes the manifest.
func Verify(pub ed25519.PublicKey, s Signed) (*AnswerManifest, error) {
	sig, err := base64.StdEncoding.DecodeString(s.Signature)
	if err != nil || len(pub) != ed25519.PublicKeySize || s.KeyID != KeyID(pub) || !ed25519.Verify(pub, s.Manifest, sig) {
		return nil, ErrSignature
	}
	var m AnswerManifest
	if err := json.Unmarshal(s.Manifest, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	if m.Format != Format {
		return nil, ErrFormat
	}
	return &m, nil
}
