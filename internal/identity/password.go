package identity

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"

	"jnedu/internal/platform/apperr"
)

// Argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1
// lane) keeps a hash near 30 ms on a classroom-server core while making
// offline guessing expensive. Stored in each hash, so they can be raised
// later without invalidating old hashes.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// HashPassword returns an encoded argon2id hash of pw.
func HashPassword(pw string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed password hash")

// CheckPassword reports whether pw matches the encoded hash.
func CheckPassword(encoded, pw string) (bool, error) {
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, errBadHash
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil {
		return false, errBadHash
	}
	b64 := base64.RawStdEncoding
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil {
		return false, errBadHash
	}
	got := argon2.IDKey([]byte(pw), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Password policy.
const (
	MinPasswordLen = 8
	MaxPasswordLen = 128
)

// commonPasswords are refused whatever their length.
var commonPasswords = map[string]bool{
	"12345678": true, "123456789": true, "1234567890": true, "password": true, "password1": true,
	"qwerty123": true, "11111111": true, "88888888": true, "abc12345": true, "abcd1234": true,
	"a1234567": true, "aa123456": true, "1qaz2wsx": true, "qwertyui": true, "admin123": true,
	"admin888": true, "woaini1314": true, "iloveyou": true, "000000000": true, "123123123": true,
	"jnedu123": true, "jnedu2026": true, "p@ssw0rd": true, "passw0rd": true,
}

// CheckPolicy validates a new password for a user: 8 to 128 characters, at
// least a letter and a digit, not the user name, not a well-known password.
func CheckPolicy(pw, username string) error {
	n := utf8.RuneCountInString(pw)
	if n < MinPasswordLen {
		return apperr.Field("password", "pw.too_short")
	}
	if n > MaxPasswordLen {
		return apperr.Field("password", "pw.too_long")
	}
	var letter, digit bool
	for _, r := range pw {
		switch {
		case unicode.IsLetter(r):
			letter = true
		case unicode.IsDigit(r):
			digit = true
		}
	}
	if !letter || !digit {
		return apperr.Field("password", "pw.classes")
	}
	low := strings.ToLower(pw)
	if username != "" && strings.Contains(low, strings.ToLower(username)) {
		return apperr.Field("password", "pw.contains_username")
	}
	if commonPasswords[low] {
		return apperr.Field("password", "pw.common")
	}
	return nil
}
