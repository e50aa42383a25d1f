package site

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"strconv"
	"testing"

	"jnedu/internal/exam/site/sitefixture"
)

// BenchmarkChunkPath is one chunk (32,000 bytes, one second of 16 kHz PCM)
// through the node's handler, written and synced: run it with -benchmem to
// see what the chunk path allocates.
func BenchmarkChunkPath(b *testing.B) {
	ctx := context.Background()
	fx, err := sitefixture.Build(sitefixture.Options{})
	if err != nil {
		b.Fatal(err)
	}
	n, err := Open(ctx, Options{DataDir: b.TempDir(), Site: fx.Package.Site.Code, Reserve: -1 << 40})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	dir := b.TempDir()
	fx.WriteFolder(dir)
	if _, err := n.LoadFolder(ctx, dir); err != nil {
		b.Fatal(err)
	}
	if err := n.SetKey(ctx, "S1", fx.Key, "typed"); err != nil {
		b.Fatal(err)
	}
	if err := n.SetRoom(ctx, "S1", "01", "start"); err != nil {
		b.Fatal(err)
	}
	c := wire{t: b, h: n.Handler(), addr: "10.0.0.1"}
	var in SignedIn
	if a := c.json("POST", "/client/api/signin", "", `{"number":"`+fx.Numbers[0]+`","device":"d"}`); json.Unmarshal(a.body, &in) != nil {
		b.Fatalf("sign-in: %d %s", a.status, a.body)
	}
	att := "/client/api/attempts/" + in.Attempt
	for _, step := range [][2]string{{"/items/s1i1/open", "{}"}, {"/items/s1i1/close", `{"chunks":0}`}, {"/items/s2i1/open", "{}"}} {
		if a := c.json("POST", att+step[0], in.Token, step[1]); a.status != 200 {
			b.Fatalf("%s: %d %s", step[0], a.status, a.body)
		}
	}
	pcm := speech(0)
	sum := sha256.Sum256(pcm)
	hash := hex.EncodeToString(sum[:])
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("PUT", att+"/items/s2i1/chunks/"+strconv.Itoa(i), bytes.NewReader(pcm))
		req.Header.Set("Authorization", "Bearer "+in.Token)
		req.Header.Set("X-Chunk-SHA256", hash)
		w := httptest.NewRecorder()
		c.h.ServeHTTP(w, req)
		if w.Code != 200 {
			b.Fatalf("chunk %d: %d %s", i, w.Code, w.Body)
		}
	}
}
