package roster

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// National ID numbers (公民身份号码) follow GB 11643-1999: 6 digits of the
// address code, 8 of the birth date (YYYYMMDD), 3 of the sequence (odd for
// men, even for women) and a check character computed by ISO 7064
// MOD 11-2 over the first 17 digits.

var (
	errIDLength   = errors.New("an ID number has 18 characters")
	errIDChars    = errors.New("the first 17 characters must be digits, the last a digit or X")
	errIDBirth    = errors.New("the birth date in the ID number is not a date")
	errIDChecksum = errors.New("the check character does not match (GB 11643)")
)

var idWeights = [17]int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}

const idCheckChars = "10X98765432"

// NormalizeID trims a written ID number and upper-cases its x, and turns
// full-width digits into ASCII (what some forms produce).
func NormalizeID(s string) string {
	var b strings.Builder
	for _, r := range strings.TrimSpace(s) {
		switch {
		case r >= '０' && r <= '９':
			b.WriteRune('0' + (r - '０'))
		case r == 'x' || r == 'ｘ' || r == 'Ｘ':
			b.WriteByte('X')
		case r == ' ' || r == '\u3000':
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// IDCheckChar returns the GB 11643 check character of the first 17 digits.
func IDCheckChar(first17 string) byte {
	sum := 0
	for i := 0; i < 17; i++ {
		sum += int(first17[i]-'0') * idWeights[i]
	}
	return idCheckChars[sum%11]
}

// ValidateID checks an 18-digit ID number (already normalised): length,
// characters, birth date and check character. It returns the birth date.
func ValidateID(id string) (birth string, err error) {
	if len(id) != 18 {
		return "", errIDLength
	}
	for i := 0; i < 17; i++ {
		if id[i] < '0' || id[i] > '9' {
			return "", errIDChars
		}
	}
	if c := id[17]; !(c >= '0' && c <= '9' || c == 'X') {
		return "", errIDChars
	}
	t, err := time.Parse("20060102", id[6:14])
	if err != nil || t.Year() < 1850 {
		return "", errIDBirth
	}
	if IDCheckChar(id[:17]) != id[17] {
		return "", errIDChecksum
	}
	return t.Format("2006-01-02"), nil
}

// MaskID shows the first four and last four characters of an ID number
// and stars between them: 3701**********1234.
func MaskID(id string) string {
	if len(id) <= 8 {
		return strings.Repeat("*", len(id))
	}
	return id[:4] + strings.Repeat("*", len(id)-8) + id[len(id)-4:]
}

// Protector encrypts ID numbers (AES-256-GCM) and hashes them with a key
// (HMAC-SHA-256) for matching, both keys derived from the service's
// secret. The plain number is never stored.
type Protector struct {
	aead    cipher.AEAD
	hashKey []byte
}

// NewProtector derives the keys from secret (at least 32 bytes).
func NewProtector(secret []byte) (*Protector, error) {
	if len(secret) < 32 {
		return nil, errors.New("roster: the secret must have at least 32 bytes")
	}
	derive := func(label string) []byte {
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(label))
		return m.Sum(nil)
	}
	block, err := aes.NewCipher(derive("jnedu roster id-number encryption v1"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Protector{aead: aead, hashKey: derive("jnedu roster id-number hash v1")}, nil
}

// Seal encrypts an ID number; the result is "v1:" + base64(nonce|ciphertext).
func (p *Protector) Seal(id string) (string, error) {
	nonce := make([]byte, p.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := p.aead.Seal(nonce, nonce, []byte(id), []byte("roster.id"))
	return "v1:" + base64.RawStdEncoding.EncodeToString(out), nil
}

// Open decrypts what Seal made.
func (p *Protector) Open(sealed string) (string, error) {
	raw, ok := strings.CutPrefix(sealed, "v1:")
	if !ok {
		return "", errors.New("roster: unknown sealed ID format")
	}
	b, err := base64.RawStdEncoding.DecodeString(raw)
	if err != nil || len(b) < p.aead.NonceSize() {
		return "", errors.New("roster: damaged sealed ID")
	}
	n := p.aead.NonceSize()
	plain, err := p.aead.Open(nil, b[:n], b[n:], []byte("roster.id"))
	if err != nil {
		return "", errors.New("roster: sealed ID does not open with this key")
	}
	return string(plain), nil
}

// Hash is the keyed hash of a normalised ID number, for finding a person
// by number without storing it.
func (p *Protector) Hash(id string) string {
	m := hmac.New(sha256.New, p.hashKey)
	m.Write([]byte(id))
	return hex.EncodeToString(m.Sum(nil))
}
