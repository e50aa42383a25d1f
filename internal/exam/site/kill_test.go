package site

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"

	"jnedu/internal/exam/site/sitefixture"
)

// TestMain doubles as the site node process of TestSIGKILL: with
// JNEDU_SITE_CHILD_DIR set, the test binary runs a node on that data folder
// and prints its address.
func TestMain(m *testing.M) {
	if dir := os.Getenv("JNEDU_SITE_CHILD_DIR"); dir != "" {
		os.Exit(runChild(dir, os.Getenv("JNEDU_SITE_CHILD_SITE")))
	}
	os.Exit(m.Run())
}

func runChild(dir, site string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	n, err := Open(ctx, Options{DataDir: dir, Site: site, Reserve: -1 << 40})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer n.Close()
	err = n.Serve(ctx, "127.0.0.1:0", func(addr string) { fmt.Printf("LISTEN %s\n", addr) })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func startChild(t *testing.T, dir, site string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "JNEDU_SITE_CHILD_DIR="+dir, "JNEDU_SITE_CHILD_SITE="+site)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "LISTEN "); ok {
			go func() {
				for sc.Scan() {
				}
			}()
			return cmd, "http://" + addr
		}
	}
	t.Fatal("the site node did not start")
	return nil, ""
}

// TestSIGKILL runs the real site node as a process, sends chunks from
// several candidates at once, kills it with SIGKILL in the middle, restarts
// it: every acknowledged chunk is there, and each candidate resumes at the
// item it was on and completes the recording.
func TestSIGKILL(t *testing.T) {
	fx := buildFixture(t, sitefixture.Options{Candidates: 4})
	dir := t.TempDir()
	ctx := context.Background()
	{ // prepare: package, key, room started
		n, err := Open(ctx, Options{DataDir: dir, Site: fx.Package.Site.Code, Reserve: -1 << 40})
		if err != nil {
			t.Fatal(err)
		}
		pdir := t.TempDir()
		fx.WriteFolder(pdir)
		if _, err := n.LoadFolder(ctx, pdir); err != nil {
			t.Fatal(err)
		}
		if err := n.SetKey(ctx, "S1", fx.Key, "typed"); err != nil {
			t.Fatal(err)
		}
		if err := n.SetRoom(ctx, "S1", "01", "start"); err != nil {
			t.Fatal(err)
		}
		n.Close()
	}
	cmd, base := startChild(t, dir, fx.Package.Site.Code)
	const chunks = 40
	type cand struct {
		c     *client
		mu    sync.Mutex
		acked map[int]bool
	}
	cands := make([]*cand, len(fx.Numbers))
	for i, num := range fx.Numbers {
		c := &client{t: t, base: base}
		must(t, c.signIn(num, "dev"+num), 200)
		must(t, c.do("POST", c.att("/items/s2i1/open"), map[string]any{}, nil), 200)
		cands[i] = &cand{c: c, acked: map[int]bool{}}
	}
	pcmOf := func(i, seq int) []byte {
		p := speech(seq)
		p[0], p[1] = byte(i), byte(seq)
		return p
	}
	// Send until the node dies; a request that fails has no 200.
	var wg sync.WaitGroup
	killed := make(chan struct{})
	var ackCount sync.WaitGroup
	ackCount.Add(30)
	var nacks int
	var nmu sync.Mutex
	for i, cd := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; seq < chunks; seq++ {
				select {
				case <-killed:
					return
				default:
				}
				st, ok := rawChunk(cd.c, "s2i1", seq, pcmOf(i, seq))
				if !ok {
					return
				}
				if st == 200 {
					cd.mu.Lock()
					cd.acked[seq] = true
					cd.mu.Unlock()
					nmu.Lock()
					nacks++
					if nacks <= 30 {
						ackCount.Done()
					}
					nmu.Unlock()
				}
			}
		}()
	}
	ackCount.Wait()
	cmd.Process.Signal(syscall.SIGKILL) // mid-stream: requests are in flight
	close(killed)
	cmd.Wait()
	wg.Wait()

	cmd, base = startChild(t, dir, fx.Package.Site.Code)
	total := 0
	for i, cd := range cands {
		c := &client{t: t, base: base, token: cd.c.token, id: cd.c.id}
		v := c.view()
		if v.Item != "s2i1" || v.Attempt.State != StateRunning {
			t.Fatalf("candidate %d resumes at %q (%s)", i, v.Item, v.Attempt.State)
		}
		for seq := range cd.acked {
			if uint32(seq) >= v.Items["s2i1"].NextSeq {
				t.Fatalf("candidate %d: acknowledged chunk %d lost (next_seq %d)", i, seq, v.Items["s2i1"].NextSeq)
			}
		}
		total += len(cd.acked)
		// The client's queue sends everything not acknowledged; the rest
		// of the recording follows.
		for seq := 0; seq < chunks; seq++ {
			if !cd.acked[seq] {
				must(t, c.chunk("s2i1", seq, pcmOf(i, seq)), 200)
			}
		}
		must(t, c.do("POST", c.att("/items/s2i1/close"), map[string]any{"chunks": chunks}, nil), 200)
	}
	if total < 30 {
		t.Fatalf("only %d acknowledged before the kill", total)
	}
	// Stop the node and check the stored recordings byte for byte.
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("node did not stop cleanly: %v", err)
	}
	n := openNode(t, dir, Options{Site: fx.Package.Site.Code})
	for i, cd := range cands {
		var want bytes.Buffer
		for seq := 0; seq < chunks; seq++ {
			want.Write(pcmOf(i, seq))
		}
		wav, err := os.ReadFile(n.recordingPath(cd.c.id, "s2i1"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(wav[44:], want.Bytes()) {
			t.Fatalf("candidate %d: the recording differs from what was sent", i)
		}
	}
}

// rawChunk sends a chunk without failing the test on a connection error
// (the node is being killed); ok is false when no answer came.
func rawChunk(c *client, item string, seq int, pcm []byte) (int, bool) {
	r, err := tryDo(c, "PUT", c.att(fmt.Sprintf("/items/%s/chunks/%d", item, seq)), pcm)
	if err != nil {
		return 0, false
	}
	return r, true
}

// tryDo sends a chunk and returns the status, or the transport error.
func tryDo(c *client, method, path string, body []byte) (int, error) {
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+c.token)
	s := sha256.Sum256(body)
	req.Header.Set("X-Chunk-SHA256", hex.EncodeToString(s[:]))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}
