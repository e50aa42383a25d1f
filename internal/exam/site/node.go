// Package site is the exam site node (考点): it downloads its site package
// from the center (or loads it from a folder), opens the sealed papers with
// the session key, signs candidates in, takes their recorded answers through
// a group-commit chunk log, runs the proctor console and the browser exam
// client, and sends a signed answer package back after each session. It runs
// on its own SQLite database in its own data folder and imports only the
// exam paper and bundle formats and the platform.
package site

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"jnedu/internal/exam/bundle"
	"jnedu/internal/exam/paper"
	"jnedu/internal/platform/apperr"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/web"
)

// Options configure a site node.
type Options struct {
	DataDir string
	// Center, Site and Token reach the center; Center may be empty for a
	// node that only loads packages from folders.
	Center string
	Site   string
	Token  string
	FS     FS // nil: OSFS
	// Reserve is the free disk space kept back (default 256 MiB): below it
	// chunks are refused and the proctors see an alarm.
	Reserve int64
	// Offline is how long without a heartbeat before a seat shows as
	// disconnected (default 10 s).
	Offline time.Duration
	// KeyLead is how long before a session starts the node asks the center
	// for its key (default 30 min).
	KeyLead time.Duration
	// KeyPoll is how often the center is asked for a key not yet
	// released (default 3 s).
	KeyPoll time.Duration
	// Retry bounds the backoff of downloads, key polls and uploads.
	RetryMin, RetryMax time.Duration
	HTTP               *http.Client
	// Tool opens the folder for a command run beside the node (load,
	// key, export): the chunk log, which the running node owns, stays
	// closed.
	Tool bool
	Now  func() time.Time
	Log  *slog.Logger
}

// Node is a running site node.
type Node struct {
	opt   Options
	fs    FS
	db    *db.DB
	chunk *ChunkLog
	priv  ed25519.PrivateKey
	tr    *web.Translator

	mu     sync.RWMutex
	pkg    *bundle.SitePackage
	papers map[string]map[string]*openPaper // session → variant
	seen   map[string]time.Time             // attempt → last heartbeat
	alarms map[string]Alarm

	itemMu sync.Mutex // serialises item close/assembly

	// Caches of the chunk write path, so a chunk costs no database read:
	// who holds an attempt (changes only at sign-in) and item states
	// (written through by OpenItem and CloseItem).
	cacheMu sync.Mutex
	holders map[string]holder
	items   map[itemKey]itemRow
	fails   map[string]failures // console sign-in failures by user name

	wal *walLog // site.db's write-ahead log, synced after state changes (durable.go)

	// Refused sign-ins per client address (guard.go).
	candidateGuard, staffGuard *guard
}

type failures struct {
	count int
	until time.Time
}

type holder struct{ tokenHash, session, number string }

type openPaper struct {
	paper  paper.Paper
	client []byte // ForCandidate as JSON
	files  map[string][]byte
	order  []paper.Item
	noBack []bool // per item in order: its section forbids going back
}

// Alarm is something the proctors must see at once.
type Alarm struct {
	Kind    string `json:"kind"` // disk, write, upload
	Message string `json:"message"`
	At      int64  `json:"at"`
}

// Errors with their own meaning.
var (
	ErrWrongSite    = errors.New("site: the package is for another site")
	ErrOldRevision  = errors.New("site: the package is older than the one in force")
	ErrWrongKey     = errors.New("site: the key does not match this session")
	ErrNoPackage    = errors.New("site: no site package loaded yet")
	ErrBlobMismatch = errors.New("site: a file does not match its SHA-256")
)

// Open opens (or creates) the node's data folder.
func Open(ctx context.Context, opt Options) (*Node, error) {
	if opt.DataDir == "" {
		return nil, errors.New("site: no data folder")
	}
	if opt.FS == nil {
		opt.FS = OSFS{}
	}
	if opt.Reserve == 0 {
		opt.Reserve = 256 << 20
	}
	if opt.Offline <= 0 {
		opt.Offline = 10 * time.Second
	}
	if opt.KeyLead <= 0 {
		opt.KeyLead = 30 * time.Minute
	}
	if opt.KeyPoll <= 0 {
		opt.KeyPoll = 3 * time.Second
	}
	if opt.RetryMin <= 0 {
		opt.RetryMin = 2 * time.Second
	}
	if opt.RetryMax <= 0 {
		opt.RetryMax = 5 * time.Minute
	}
	if opt.HTTP == nil {
		opt.HTTP = &http.Client{Timeout: 10 * time.Minute}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Log == nil {
		opt.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opt.DataDir, 0o750); err != nil {
		return nil, err
	}
	n := &Node{opt: opt, fs: opt.FS, papers: map[string]map[string]*openPaper{}, seen: map[string]time.Time{},
		alarms: map[string]Alarm{}, holders: map[string]holder{}, items: map[itemKey]itemRow{},
		fails: map[string]failures{}}
	n.wal = &walLog{path: filepath.Join(opt.DataDir, "site.db") + "-wal"}
	n.candidateGuard = newGuard(candidateFailBurst, candidateFailEvery, opt.Now)
	n.staffGuard = newGuard(staffFailBurst, staffFailEvery, opt.Now)
	tr, err := web.NewTranslator(web.Messages(), Messages())
	if err != nil {
		return nil, err
	}
	n.tr = tr
	d, err := db.Open(ctx, filepath.Join(opt.DataDir, "site.db"), opt.DataDir, db.Options{})
	if err != nil {
		return nil, err
	}
	n.db = d
	if _, err := d.Migrate(ctx, []db.Source{Migrations()}); err != nil {
		d.Close()
		return nil, err
	}
	if n.priv, err = loadSiteKey(filepath.Join(opt.DataDir, "site.key")); err != nil {
		d.Close()
		return nil, err
	}
	if err := n.checkSite(ctx); err != nil {
		d.Close()
		return nil, err
	}
	if opt.Tool {
		if err := n.refresh(ctx); err != nil {
			d.Close()
			return nil, err
		}
		return n, nil
	}
	n.chunk, err = OpenChunkLog(LogOptions{Dir: filepath.Join(opt.DataDir, "chunks"), FS: opt.FS,
		Reserve: opt.Reserve, Log: opt.Log, OnFault: n.chunkFault})
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("chunk log: %w", err)
	}
	if err := n.refresh(ctx); err != nil {
		n.Close()
		return nil, err
	}
	if err := n.repair(ctx); err != nil {
		n.Close()
		return nil, err
	}
	return n, nil
}

// repair assembles recordings of closed spoken items that have none: the
// database runs with synchronous=NORMAL, so after a power cut (not a
// crash) commits not yet synced may be gone (state changes are synced
// before they are answered, durable.go) while the chunks, fsynced, are not.
func (n *Node) repair(ctx context.Context) error {
	rows, err := n.db.Query(ctx, `SELECT i.attempt, i.item, i.chunks FROM examsite_items i
		LEFT JOIN examsite_recordings r ON r.attempt = i.attempt AND r.item = i.item
		WHERE i.state = 'closed' AND r.sha256 IS NULL`)
	if err != nil {
		return err
	}
	type todo struct {
		attempt, item string
		chunks        int
	}
	var list []todo
	for rows.Next() {
		var t todo
		if err := rows.Scan(&t.attempt, &t.item, &t.chunks); err != nil {
			rows.Close()
			return err
		}
		list = append(list, t)
	}
	rows.Close()
	for _, t := range list {
		a, err := n.attempt(ctx, n.db, t.attempt)
		if err != nil {
			return err
		}
		_, _, it, err := n.itemOf(a, t.item)
		if err != nil || !it.Type.Spoken() {
			continue // papers still sealed, or an objective item
		}
		if err := n.assemble(ctx, a, t.item, max(t.chunks, 0), "repair"); err != nil {
			return err
		}
		n.opt.Log.Warn("recording assembled again at start", "attempt", t.attempt, "item", t.item)
	}
	return nil
}

// Close closes the chunk log and the database.
func (n *Node) Close() error {
	if n.chunk != nil {
		n.chunk.Close()
	}
	n.wal.close()
	return n.db.Close()
}

// DB is the node's database (for tests and tools).
func (n *Node) DB() *db.DB { return n.db }

// Chunks is the node's chunk log.
func (n *Node) Chunks() *ChunkLog { return n.chunk }

// PublicKey is the node's signing key.
func (n *Node) PublicKey() ed25519.PublicKey { return n.priv.Public().(ed25519.PublicKey) }

func (n *Node) now() int64 { return n.opt.Now().UnixMilli() }

// checkSite records the site code on first start and refuses another one
// later (a data folder belongs to one site).
func (n *Node) checkSite(ctx context.Context) error {
	have, err := n.meta(ctx, "site")
	if err != nil {
		return err
	}
	switch {
	case have == "" && n.opt.Site != "":
		return n.setMeta(ctx, "site", n.opt.Site)
	case have != "" && n.opt.Site == "":
		n.opt.Site = have
	case have != "" && have != n.opt.Site:
		return fmt.Errorf("site: this data folder belongs to site %s, not %s", have, n.opt.Site)
	}
	return nil
}

func (n *Node) meta(ctx context.Context, name string) (string, error) {
	var v string
	err := n.db.QueryRow(ctx, `SELECT value FROM examsite_meta WHERE name = ?`, name).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	return v, err
}

func (n *Node) setMeta(ctx context.Context, name, value string) error {
	_, err := n.db.Exec(ctx, `INSERT INTO examsite_meta (name, value) VALUES (?, ?)
		ON CONFLICT (name) DO UPDATE SET value = excluded.value`, name, value)
	return err
}

// loadSiteKey reads the node's Ed25519 key, making one on first start
// (written 0600 through a synced temporary file).
func loadSiteKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		seed, derr := hex.DecodeString(string(b))
		if derr != nil || len(seed) != ed25519.SeedSize {
			return nil, fmt.Errorf("site key %s is damaged", path)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	seed := make([]byte, ed25519.SeedSize)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	if err := writeFileSync(OSFS{}, path, []byte(hex.EncodeToString(seed)), 0o600); err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// Package is the package in force (nil before one is loaded).
func (n *Node) Package() *bundle.SitePackage {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.pkg
}

var hashRE = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (n *Node) blobPath(sum string) string { return filepath.Join(n.opt.DataDir, "blobs", sum) }

func (n *Node) readBlob(sum string) ([]byte, error) {
	if !hashRE.MatchString(sum) {
		return nil, os.ErrNotExist
	}
	return os.ReadFile(n.blobPath(sum))
}

// haveBlob reports whether a listed file is present and whole.
func (n *Node) haveBlob(sum string) bool {
	b, err := n.readBlob(sum)
	if err != nil {
		return false
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]) == sum
}

// putBlob stores a file after checking its hash.
func (n *Node) putBlob(sum string, data []byte) error {
	s := sha256.Sum256(data)
	if hex.EncodeToString(s[:]) != sum {
		return fmt.Errorf("%w: %s", ErrBlobMismatch, sum)
	}
	return writeFileSync(n.fs, n.blobPath(sum), data, 0o600)
}

// ParsePackage reads and checks a site package document for this node.
func (n *Node) ParsePackage(doc []byte) (*bundle.SitePackage, error) {
	if len(doc) > bundle.MaxPackageBytes {
		return nil, fmt.Errorf("site package over %d bytes", bundle.MaxPackageBytes)
	}
	var p bundle.SitePackage
	if err := json.Unmarshal(doc, &p); err != nil {
		return nil, fmt.Errorf("site package: %w", err)
	}
	if p.Format != bundle.Format {
		return nil, bundle.ErrFormat
	}
	if n.opt.Site == "" {
		return nil, fmt.Errorf("%w: this data folder has no site code yet: give --site CODE", ErrWrongSite)
	}
	if p.Site.Code != n.opt.Site {
		return nil, fmt.Errorf("%w: package for %q, this node is %q", ErrWrongSite, p.Site.Code, n.opt.Site)
	}
	for _, b := range p.Blobs {
		if !hashRE.MatchString(b) {
			return nil, fmt.Errorf("site package lists a bad file name %q", b)
		}
	}
	for _, s := range p.Sessions {
		for _, sp := range s.Papers {
			if !hashRE.MatchString(sp.Blob) {
				return nil, fmt.Errorf("site package: paper %s has a bad file name", sp.Code)
			}
		}
	}
	return &p, nil
}

// AcceptPackage stores a package whose files are all present, when it is
// not older than the one in force. It returns whether it is new.
func (n *Node) AcceptPackage(ctx context.Context, doc []byte) (bool, error) {
	p, err := n.ParsePackage(doc)
	if err != nil {
		return false, err
	}
	if cur := n.Package(); cur != nil {
		if p.Revision < cur.Revision {
			return false, fmt.Errorf("%w: revision %d, in force %d", ErrOldRevision, p.Revision, cur.Revision)
		}
		if p.Revision == cur.Revision {
			return false, nil
		}
	}
	for _, b := range p.Blobs {
		if !n.haveBlob(b) {
			return false, fmt.Errorf("site package: file %s is missing", b)
		}
	}
	if _, err := n.db.Exec(ctx, `INSERT INTO examsite_packages (revision, doc, loaded_at) VALUES (?, ?, ?)
		ON CONFLICT (revision) DO NOTHING`, p.Revision, string(doc), n.now()); err != nil {
		return false, err
	}
	return true, n.refresh(ctx)
}

// LoadFolder loads a package from a folder: DIR/package.json and each
// listed file as DIR/blobs/<sha256> (the offline path; the same checks as
// a download).
func (n *Node) LoadFolder(ctx context.Context, dir string) (*bundle.SitePackage, error) {
	doc, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return nil, err
	}
	p, err := n.ParsePackage(doc)
	if err != nil {
		return nil, err
	}
	for _, b := range p.Blobs {
		if n.haveBlob(b) {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, "blobs", b))
		if err != nil {
			return nil, fmt.Errorf("file %s: %w", b, err)
		}
		if err := n.putBlob(b, data); err != nil {
			return nil, err
		}
	}
	if _, err := n.AcceptPackage(ctx, doc); err != nil {
		return nil, err
	}
	return p, nil
}

// refresh loads the newest package and the stored keys into memory (the
// `site load` and `site key` commands write them from another process).
func (n *Node) refresh(ctx context.Context) error {
	var doc string
	var rev int64
	err := n.db.QueryRow(ctx, `SELECT revision FROM examsite_packages ORDER BY revision DESC LIMIT 1`).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	if cur := n.Package(); cur == nil || cur.Revision != rev {
		if err := n.db.QueryRow(ctx, `SELECT doc FROM examsite_packages WHERE revision = ?`, rev).Scan(&doc); err != nil {
			return err
		}
		var p bundle.SitePackage
		if err := json.Unmarshal([]byte(doc), &p); err != nil {
			return err
		}
		n.mu.Lock()
		n.pkg = &p
		n.papers = map[string]map[string]*openPaper{} // reopened below with the new package
		n.mu.Unlock()
	}
	rows, err := n.db.Query(ctx, `SELECT session, key_b64 FROM examsite_keys`)
	if err != nil {
		return err
	}
	keys := map[string]string{}
	for rows.Next() {
		var s, k string
		if err := rows.Scan(&s, &k); err != nil {
			rows.Close()
			return err
		}
		keys[s] = k
	}
	rows.Close()
	for s, k := range keys {
		if n.hasPapers(s) {
			continue
		}
		key, err := bundle.DecodeKey(k)
		if err != nil {
			return err
		}
		if err := n.openPapers(s, key); err != nil {
			n.opt.Log.Error("open papers", "session", s, "err", err)
		}
	}
	return nil
}

func (n *Node) hasPapers(session string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.papers[session] != nil
}

func (n *Node) session(code string) (*bundle.SitePackage, *bundle.Session) {
	p := n.Package()
	if p == nil {
		return nil, nil
	}
	for i := range p.Sessions {
		if p.Sessions[i].Code == code {
			return p, &p.Sessions[i]
		}
	}
	return p, nil
}

// SetKey checks a session key against the package, opens the session's
// papers in memory and keeps the key. A key that does not match is refused
// before any decryption is tried.
func (n *Node) SetKey(ctx context.Context, session string, k bundle.Key, source string) error {
	p, s := n.session(session)
	if p == nil {
		return ErrNoPackage
	}
	if s == nil {
		return apperr.New(apperr.NotFound, "exam.site.no_such_session", session)
	}
	if bundle.KeyCheck(k) != s.KeyCheck {
		return ErrWrongKey
	}
	if err := n.openPapers(session, k); err != nil {
		return err
	}
	_, err := n.db.Exec(ctx, `INSERT INTO examsite_keys (session, key_b64, source, at) VALUES (?, ?, ?, ?)
		ON CONFLICT (session) DO NOTHING`, session, bundle.EncodeKey(k), source, n.now())
	return err
}

// SetKeyCode is SetKey from what the chief typed from the envelope.
func (n *Node) SetKeyCode(ctx context.Context, session, code string) error {
	k, err := bundle.ParseSealedCode(code)
	if err != nil {
		return err
	}
	return n.SetKey(ctx, session, k, "typed")
}

func (n *Node) openPapers(session string, k bundle.Key) error {
	p, s := n.session(session)
	if s == nil {
		return ErrNoPackage
	}
	if bundle.KeyCheck(k) != s.KeyCheck {
		return ErrWrongKey
	}
	out := map[string]*openPaper{}
	for _, sp := range s.Papers {
		sealed, err := n.readBlob(sp.Blob)
		if err != nil {
			return fmt.Errorf("paper %s: %w", sp.Code, err)
		}
		pt, err := bundle.Open(k, sealed, bundle.PaperAD(p.Exam.Code, session, sp.Variant))
		if err != nil {
			return fmt.Errorf("paper %s: %w", sp.Code, err)
		}
		var pf bundle.PaperFile
		if err := json.Unmarshal(pt, &pf); err != nil {
			return fmt.Errorf("paper %s: %w", sp.Code, err)
		}
		op := &openPaper{files: pf.Files}
		if err := json.Unmarshal(pf.Paper, &op.paper); err != nil {
			return fmt.Errorf("paper %s: %w", sp.Code, err)
		}
		for _, sec := range op.paper.Sections {
			for _, it := range sec.Items {
				if !validID(it.ID) {
					return fmt.Errorf("paper %s: item id %q", sp.Code, it.ID)
				}
				op.order = append(op.order, it)
				op.noBack = append(op.noBack, sec.NoBack)
			}
		}
		fc := op.paper.ForCandidate()
		if op.client, err = json.Marshal(fc); err != nil {
			return err
		}
		out[sp.Variant] = op
	}
	n.mu.Lock()
	n.papers[session] = out
	n.mu.Unlock()
	return nil
}

func (n *Node) paperOf(session, variant string) *openPaper {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.papers[session][variant]
}

func (op *openPaper) index(item string) int {
	for i, it := range op.order {
		if it.ID == item {
			return i
		}
	}
	return -1
}

// candidate finds a candidate of the package for sign-in: the entry whose
// session has not ended, earliest first.
func (n *Node) candidate(number string) (*bundle.Candidate, *bundle.Session) {
	p := n.Package()
	if p == nil {
		return nil, nil
	}
	var best *bundle.Candidate
	var bs *bundle.Session
	for i := range p.Candidates {
		c := &p.Candidates[i]
		if c.Number != number {
			continue
		}
		_, s := n.session(c.Session)
		if s == nil {
			continue
		}
		if bs == nil || s.StartsAt < bs.StartsAt {
			best, bs = c, s
		}
	}
	return best, bs
}

func (n *Node) candidateIn(session, number string) *bundle.Candidate {
	p := n.Package()
	if p == nil {
		return nil
	}
	for i := range p.Candidates {
		if p.Candidates[i].Number == number && p.Candidates[i].Session == session {
			return &p.Candidates[i]
		}
	}
	return nil
}

// raise and clear keep the alarms the console shows.
func (n *Node) raise(kind, msg string) {
	n.mu.Lock()
	if _, ok := n.alarms[kind]; !ok {
		n.alarms[kind] = Alarm{Kind: kind, Message: msg, At: n.now()}
	}
	n.mu.Unlock()
}

func (n *Node) clear(kind string) {
	n.mu.Lock()
	delete(n.alarms, kind)
	n.mu.Unlock()
}

// Alarms lists the raised alarms, oldest first.
func (n *Node) Alarms() []Alarm {
	n.mu.RLock()
	out := make([]Alarm, 0, len(n.alarms))
	for _, a := range n.alarms {
		out = append(out, a)
	}
	n.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

func (n *Node) chunkFault(err error) {
	if err == nil {
		n.clear("disk")
		n.clear("write")
		n.opt.Log.Info("chunk log: writing works again")
		return
	}
	n.opt.Log.Error("chunk log: write failed; chunks are not acknowledged", "err", err)
	if IsDiskFull(err) {
		n.raise("disk", "exam.site.alarm_disk")
	} else {
		n.raise("write", "exam.site.alarm_write")
	}
}

// checkDisk raises the disk alarm ahead of time when free space falls
// below twice the reserve.
func (n *Node) checkDisk() {
	free, err := n.fs.Free(n.opt.DataDir)
	if err != nil {
		return
	}
	if free < 2*n.opt.Reserve {
		n.raise("disk_low", "exam.site.alarm_disk_low")
	} else {
		n.clear("disk_low")
	}
}

// SessionEnded reports whether a session was ended.
func (n *Node) SessionEnded(ctx context.Context, session string) bool {
	return n.sessionEnded(ctx, session)
}

// Describe words an error of the node for a terminal, in Chinese and
// English ("" when it has no message of its own).
func Describe(err error) string {
	e := toErr(err)
	if e.Code == "exam.site.internal" {
		return ""
	}
	m, ok := Messages()[e.Code]
	if !ok {
		return ""
	}
	zh, en := m[0], m[1]
	if len(e.Args) > 0 {
		zh, en = fmt.Sprintf(zh, e.Args...), fmt.Sprintf(en, e.Args...)
	}
	return zh + " / " + en
}
