package roster

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestIDChecksum uses the examples printed in GB 11643-1999 and numbers
// derived from them.
func TestIDChecksum(t *testing.T) {
	for _, tc := range []struct {
		first17 string
		want    byte
	}{
		{"11010519491231002", 'X'}, // the standard's example (a woman born 1949-12-31)
		{"44052418800101001", '4'}, // the standard's example (a man born 1880-01-01)
		{"37010220100305123", '7'},
		{"37010220100305124", '5'},
		{"37010220100305127", 'X'},
	} {
		if got := IDCheckChar(tc.first17); got != tc.want {
			t.Errorf("IDCheckChar(%s) = %c, want %c", tc.first17, got, tc.want)
		}
	}
	for _, tc := range []struct {
		id        string
		wantErr   error
		wantBirth string
	}{
		{"11010519491231002X", nil, "1949-12-31"},
		{"440524188001010014", nil, "1880-01-01"},
		{"110105194912310021", errIDChecksum, ""},
		{"440524188001010015", errIDChecksum, ""},
		{"11010519491231002", errIDLength, ""},
		{"1101051949123100211", errIDLength, ""},
		{"11010519491231X02X", errIDChars, ""},
		{"11010519490231" + "0026", errIDBirth, ""}, // 31 February
	} {
		birth, err := ValidateID(tc.id)
		if !errors.Is(err, tc.wantErr) || birth != tc.wantBirth {
			t.Errorf("ValidateID(%s) = %q, %v; want %q, %v", tc.id, birth, err, tc.wantBirth, tc.wantErr)
		}
	}
	if got := NormalizeID(" １１０１０５１９４９１２３１００２x "); got != "11010519491231002X" {
		t.Errorf("NormalizeID of full-width digits and a lower-case x = %q", got)
	}
}

func TestMaskAndProtect(t *testing.T) {
	const id = "370102201003051237"
	if got := MaskID(id); got != "3701**********1237" {
		t.Errorf("MaskID = %q", got)
	}
	p1, err := NewProtector(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := NewProtector(bytes.Repeat([]byte{8}, 32))
	sealed, err := p1.Seal(id)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed, id) || strings.Contains(sealed, id[6:14]) {
		t.Errorf("sealed form %q shows the number", sealed)
	}
	if again, _ := p1.Seal(id); again == sealed {
		t.Error("two seals of one number are equal: the nonce is not random")
	}
	if got, err := p1.Open(sealed); err != nil || got != id {
		t.Errorf("Open = %q, %v", got, err)
	}
	if _, err := p2.Open(sealed); err == nil {
		t.Error("another key opened the sealed number")
	}
	if p1.Hash(id) != p1.Hash(id) || p1.Hash(id) == p2.Hash(id) || p1.Hash(id) == p1.Hash("11010519491231002X") {
		t.Error("the keyed hash is not a stable, keyed function of the number")
	}
	if _, err := NewProtector([]byte("short")); err == nil {
		t.Error("a short secret was accepted")
	}
}
