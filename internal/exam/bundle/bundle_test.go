package bundle

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
)

func TestSealOpen(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	ad := PaperAD("2027-ZK", "S1", "A")
	msg := []byte(`{"paper":{"code":"A"}}`)
	sealed, err := Seal(k, msg, ad)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, msg) {
		t.Fatal("sealed bytes contain the plaintext")
	}
	got, err := Open(k, sealed, ad)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Open = %q, %v; want the plaintext", got, err)
	}
	// A changed byte, another place, another key, a truncation: all refused.
	bad := bytes.Clone(sealed)
	bad[len(bad)/2] ^= 1
	other, _ := NewKey()
	for name, try := range map[string]func() ([]byte, error){
		"flipped":   func() ([]byte, error) { return Open(k, bad, ad) },
		"other ad":  func() ([]byte, error) { return Open(k, sealed, PaperAD("2027-ZK", "S1", "B")) },
		"other key": func() ([]byte, error) { return Open(other, sealed, ad) },
		"truncated": func() ([]byte, error) { return Open(k, sealed[:len(sealed)-5], ad) },
		"empty":     func() ([]byte, error) { return Open(k, nil, ad) },
	} {
		if _, err := try(); !errors.Is(err, ErrSealed) {
			t.Errorf("%s: err = %v, want ErrSealed", name, err)
		}
	}
	if KeyCheck(k) == KeyCheck(other) || len(KeyCheck(k)) != 16 {
		t.Errorf("KeyCheck does not tell keys apart: %s %s", KeyCheck(k), KeyCheck(other))
	}
}

func TestSealedCode(t *testing.T) {
	for i := 0; i < 50; i++ {
		k, _ := NewKey()
		code := SealedCode(k)
		if len(strings.ReplaceAll(code, "-", "")) != 56 || strings.Count(code, "-") != 13 {
			t.Fatalf("code %q: want 14 groups of 4", code)
		}
		got, err := ParseSealedCode(strings.ToLower(strings.ReplaceAll(code, "-", " ")))
		if err != nil || got != k {
			t.Fatalf("ParseSealedCode(%q) = %v, %v", code, got, err)
		}
		// One mistyped character is caught by the checksum (or the alphabet).
		b := []byte(code)
		pos := 0
		if b[pos] == 'A' {
			b[pos] = 'B'
		} else {
			b[pos] = 'A'
		}
		if _, err := ParseSealedCode(string(b)); !errors.Is(err, ErrCode) {
			t.Fatalf("mistyped %q accepted", b)
		}
	}
	if _, err := ParseSealedCode("ABCD"); !errors.Is(err, ErrCode) {
		t.Fatal("short code accepted")
	}
	if _, err := ParseSealedCode(strings.Repeat("U", 56)); !errors.Is(err, ErrCode) {
		t.Fatal("code outside the alphabet accepted")
	}
	k, _ := NewKey()
	if got, err := DecodeKey(EncodeKey(k)); err != nil || got != k {
		t.Fatalf("DecodeKey: %v", err)
	}
}

func TestSignVerify(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	choice := 2
	m := &AnswerManifest{Exam: "2027-ZK", Site: "E-LW01", Session: "S1", Candidates: []CandidateResult{{
		Number: "2701010001", Status: StatusFinished, Variant: "A",
		Answers: []Answer{{Item: "s1i1", Choice: &choice}, {Item: "s2i1", Recording: strings.Repeat("ab", 32)},
			{Item: "s2i2", Recording: strings.Repeat("ab", 32)}},
	}}}
	s, err := Sign(priv, m)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Verify(pub, s)
	if err != nil || got.Candidates[0].Number != "2701010001" || *got.Candidates[0].Answers[0].Choice != 2 {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	if f := got.Files(); len(f) != 1 {
		t.Errorf("Files = %v, want one distinct recording", f)
	}
	tampered := s
	tampered.Manifest = bytes.Replace(s.Manifest, []byte("2701010001"), []byte("2701010002"), 1)
	if _, err := Verify(pub, tampered); !errors.Is(err, ErrSignature) {
		t.Errorf("tampered manifest: err = %v", err)
	}
	pub2, _, _ := ed25519.GenerateKey(rand.Reader)
	if _, err := Verify(pub2, s); !errors.Is(err, ErrSignature) {
		t.Errorf("other site's key: err = %v", err)
	}
}
