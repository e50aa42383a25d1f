package simulate

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"jnedu/internal/exam/site"
	"jnedu/internal/exam/site/sitefixture"
)

// node is a real site node serving on loopback, restartable on the same
// address.
type node struct {
	t    *testing.T
	dir  string
	site string
	addr string
	stop context.CancelFunc
	done chan struct{}
	n    *site.Node
}

func startNode(t *testing.T, o sitefixture.Options) (*node, *sitefixture.Fixture) {
	t.Helper()
	fx, err := sitefixture.Build(o)
	if err != nil {
		t.Fatal(err)
	}
	nd := &node{t: t, dir: t.TempDir(), site: fx.Package.Site.Code, addr: "127.0.0.1:0"}
	n := nd.open()
	pdir := t.TempDir()
	if err := fx.WriteFolder(pdir); err != nil {
		t.Fatal(err)
	}
	if _, err := n.LoadFolder(context.Background(), pdir); err != nil {
		t.Fatal(err)
	}
	if err := n.SetKey(context.Background(), "S1", fx.Key, "typed"); err != nil {
		t.Fatal(err)
	}
	nd.serve(n)
	t.Cleanup(nd.down)
	return nd, fx
}

func (nd *node) open() *site.Node {
	n, err := site.Open(context.Background(), site.Options{DataDir: nd.dir, Site: nd.site, Reserve: -1 << 40,
		RetryMin: 20 * time.Millisecond, RetryMax: 100 * time.Millisecond})
	if err != nil {
		nd.t.Fatal(err)
	}
	return n
}

func (nd *node) serve(n *site.Node) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	nd.n, nd.stop, nd.done = n, cancel, make(chan struct{})
	go func() {
		defer close(nd.done)
		if err := n.Serve(ctx, nd.addr, func(a string) { ready <- a }); err != nil {
			nd.t.Errorf("serve: %v", err)
			ready <- ""
		}
	}()
	nd.addr = <-ready
}

// down stops serving and closes the node (its files stay).
func (nd *node) down() {
	if nd.stop == nil {
		return
	}
	nd.stop()
	<-nd.done
	nd.n.Close()
	nd.stop = nil
}

func (nd *node) url() string { return "http://" + nd.addr }

func opts(nd *node) Options {
	return Options{URL: nd.url(), Session: "S1", Proctor: "chief", Password: "proctor-pass-1", StartRooms: true,
		ChunkMs: 500, Speed: 10, Finish: true, Seed: 1, Deadline: 5 * time.Minute}
}

func checkComplete(t *testing.T, rep *Report, candidates int) {
	t.Helper()
	if rep.Candidates != candidates || rep.Finished != candidates {
		t.Errorf("candidates %d, finished %d; want %d", rep.Candidates, rep.Finished, candidates)
	}
	if !rep.Verified {
		t.Fatalf("the stored answers were not read back: %+v", rep.Errors)
	}
	if rep.SpokenExpected == 0 || rep.ObjectiveExpected == 0 {
		t.Fatalf("nothing expected: %+v", rep)
	}
	if rep.AnswersStored != rep.AnswersExpected || rep.ChunksLost != 0 {
		t.Errorf("answers stored %d of %d (spoken %d/%d, objective %d/%d), chunks lost %d",
			rep.AnswersStored, rep.AnswersExpected, rep.SpokenStored, rep.SpokenExpected,
			rep.ObjectiveStored, rep.ObjectiveExpected, rep.ChunksLost)
	}
	if rep.AudioMsStored < rep.AudioMsSent {
		t.Errorf("audio stored %d ms < sent %d ms", rep.AudioMsStored, rep.AudioMsSent)
	}
	if rep.ChunksAcked == 0 || rep.AckLatency.Count != rep.ChunksAcked {
		t.Errorf("chunks acked %d, latencies %d", rep.ChunksAcked, rep.AckLatency.Count)
	}
}

func TestSimulateStoresEveryAnswer(t *testing.T) {
	nd, fx := startNode(t, sitefixture.Options{Candidates: 12, AnswerSec: 3, Spoken: 2})
	rep, err := Run(context.Background(), opts(nd))
	if err != nil {
		t.Fatal(err)
	}
	checkComplete(t, rep, len(fx.Numbers))
	if len(rep.Errors) != 0 {
		t.Errorf("errors on a healthy node: %v", rep.Errors)
	}
	// 2 spoken items × 3 s in 500 ms chunks = 12 chunks per candidate.
	if want := 12 * len(fx.Numbers); rep.ChunksAcked != want {
		t.Errorf("chunks acked %d, want %d", rep.ChunksAcked, want)
	}
	// Playing the same candidates again is refused (they finished): the
	// simulator reports it instead of counting answers twice.
	again, err := Run(context.Background(), opts(nd))
	if err != nil {
		t.Fatal(err)
	}
	if again.Finished != 0 || len(again.Errors) == 0 {
		t.Errorf("finished candidates played again: finished %d, errors %v", again.Finished, again.Errors)
	}
}

// TestSimulateNodeRestart stops the site node in the middle of the
// recordings and starts it again on the same address after a pause: the
// candidates' queued chunks go through and every answer is stored.
func TestSimulateNodeRestart(t *testing.T) {
	nd, fx := startNode(t, sitefixture.Options{Candidates: 8, AnswerSec: 4, Spoken: 2})
	o := opts(nd)
	var once sync.Once
	restarted := make(chan struct{})
	o.OnProgress = func(acked int) {
		if acked == 20 {
			once.Do(func() {
				go func() {
					defer close(restarted)
					nd.down()
					time.Sleep(2 * time.Second)
					nd.serve(nd.open())
				}()
			})
		}
	}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	<-restarted
	checkComplete(t, rep, len(fx.Numbers))
	if rep.ChunkResends == 0 {
		t.Errorf("no chunk was sent again: the outage was not felt (%v)", rep.Errors)
	}
}

// cutProxy forwards TCP to a backend; while cut, it drops every open
// connection and refuses new ones — the network between the room PCs and
// the site node going down.
type cutProxy struct {
	ln      net.Listener
	backend string
	cut     atomic.Bool
	mu      sync.Mutex
	conns   map[net.Conn]bool
}

func newCutProxy(t *testing.T, backend string) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, backend: backend, conns: map[net.Conn]bool{}}
	go p.accept()
	t.Cleanup(func() { ln.Close(); p.drop() })
	return p
}

func (p *cutProxy) accept() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if p.cut.Load() {
			c.Close()
			continue
		}
		b, err := net.Dial("tcp", p.backend)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[b] = true, true
		p.mu.Unlock()
		go func() { io.Copy(b, c); b.Close() }()
		go func() { io.Copy(c, b); c.Close() }()
	}
}

func (p *cutProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// TestSimulateNetworkCut cuts the network between the candidates and the
// site node for 30 seconds while they record: nothing is lost, the
// recordings complete after it returns.
func TestSimulateNetworkCut(t *testing.T) {
	const cut = 30 * time.Second
	nd, fx := startNode(t, sitefixture.Options{Candidates: 6, AnswerSec: 6, Spoken: 2})
	px := newCutProxy(t, nd.addr)
	o := opts(nd)
	o.URL = "http://" + px.ln.Addr().String()
	o.Speed = 2 // 500 ms chunks every 250 ms: the cut falls inside the recordings
	o.Client = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var once sync.Once
	var cutAt, healedAt time.Time
	o.OnProgress = func(acked int) {
		if acked == 15 {
			once.Do(func() {
				cutAt = time.Now()
				px.cut.Store(true)
				px.drop()
				time.AfterFunc(cut, func() { px.cut.Store(false); healedAt = time.Now() })
			})
		}
	}
	rep, err := Run(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	if cutAt.IsZero() || healedAt.IsZero() {
		t.Fatal("the network was never cut")
	}
	checkComplete(t, rep, len(fx.Numbers))
	if rep.ChunkResends == 0 || rep.AckLatencyFirstSend.Max < float64(cut/time.Millisecond)/2 {
		t.Errorf("the cut was not felt: resends %d, longest wait %.0f ms", rep.ChunkResends, rep.AckLatencyFirstSend.Max)
	}
}
