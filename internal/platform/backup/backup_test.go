package backup_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"jnedu/internal/platform/backup"
	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/db/dbtest"
)

// site is one installation under test: a database, its data folder and
// blob store.
type site struct {
	d       *db.DB
	url     string // the database URL Restore and db.Open take
	dataDir string
	blobs   *blob.Local
}

func newSite(t *testing.T, e dbtest.Engine) *site {
	t.Helper()
	ctx := context.Background()
	s := &site{d: e.Open(t)}
	if s.d.Dialect() == db.SQLite {
		s.dataDir = filepath.Dir(s.d.SQLitePath())
	} else {
		s.url = s.d.PostgresDSN()
		s.dataDir = t.TempDir()
	}
	var err error
	if s.blobs, err = blob.OpenLocal(filepath.Join(s.dataDir, "blobs")); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"CREATE TABLE bk_item (id BIGINT PRIMARY KEY, name TEXT NOT NULL, score BIGINT NOT NULL)",
		"CREATE TABLE bk_line (id BIGINT PRIMARY KEY, item_id BIGINT NOT NULL REFERENCES bk_item (id), note TEXT NOT NULL)",
	} {
		if _, err := s.d.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for i := int64(1); i <= 50; i++ {
		insertItem(t, s.d, i, fmt.Sprintf("条目 %d", i), i*i, "seed")
	}
	return s
}

// open opens another connection to the site's database, as another
// process would.
func (s *site) open(t *testing.T) *db.DB {
	t.Helper()
	d, err := db.Open(context.Background(), s.url, s.dataDir, db.Options{})
	if err != nil {
		t.Fatalf("open %s: %v", s.url, err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func insertItem(t *testing.T, d *db.DB, id int64, name string, score int64, note string) {
	t.Helper()
	if err := insertPair(context.Background(), d, id, name, score, note); err != nil {
		t.Fatal(err)
	}
}

// insertPair adds an item and its line in one transaction: a torn snapshot
// would show one without the other.
func insertPair(ctx context.Context, d *db.DB, id int64, name string, score int64, note string) error {
	return d.InTx(ctx, func(tx *db.Tx) error {
		if _, err := tx.Exec(ctx, "INSERT INTO bk_item (id, name, score) VALUES (?, ?, ?)", id, name, score); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO bk_line (id, item_id, note) VALUES (?, ?, ?)", id, id, note)
		return err
	})
}

type item struct {
	ID    int64
	Name  string
	Score int64
	Note  string
}

func readItems(t *testing.T, d *db.DB) []item {
	t.Helper()
	ctx := context.Background()
	rows, err := d.Query(ctx, `SELECT i.id, i.name, i.score, l.note FROM bk_item i JOIN bk_line l ON l.item_id = i.id ORDER BY i.id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []item
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.ID, &it.Name, &it.Score, &it.Note); err != nil {
			t.Fatal(err)
		}
		out = append(out, it)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	var items, lines int
	if err := d.QueryRow(ctx, "SELECT (SELECT COUNT(*) FROM bk_item), (SELECT COUNT(*) FROM bk_line)").Scan(&items, &lines); err != nil {
		t.Fatal(err)
	}
	if items != len(out) || lines != len(out) {
		t.Fatalf("%d items and %d lines, %d joined: the database is inconsistent", items, lines, len(out))
	}
	return out
}

func randomBytes(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// putBlobs stores a few blobs and returns their contents by key.
func putBlobs(t *testing.T, s blob.Store) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for _, data := range [][]byte{
		nil,
		[]byte("hello"),
		[]byte("听力考试录音 recording"),
		randomBytes(1, 300<<10),
		randomBytes(2, 1<<20+3),
	} {
		info, err := s.Put(context.Background(), bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		out[info.Key] = data
	}
	return out
}

// readBlobs returns every blob of the store.
func readBlobs(t *testing.T, s blob.Store) map[string][]byte {
	t.Helper()
	ctx := context.Background()
	out := map[string][]byte{}
	err := s.Walk(ctx, func(i blob.Info) error {
		rc, _, err := s.Open(ctx, i.Key)
		if err != nil {
			return err
		}
		defer rc.Close()
		out[i.Key], err = io.ReadAll(rc)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sameBlobs(t *testing.T, got, want map[string][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d blobs, want %d", len(got), len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("blob %s missing", k)
		} else if !bytes.Equal(g, w) {
			t.Errorf("blob %s: %d bytes differ from the %d expected", k, len(g), len(w))
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("blob %s should not be there", k)
		}
	}
}

// leftovers lists hidden entries (staging files and folders) in dir.
func leftovers(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range es {
		if strings.HasPrefix(e.Name(), ".") {
			out = append(out, e.Name())
		}
	}
	return out
}

// change alters the site after a backup: rows updated, deleted and added, a
// table created, blobs deleted and added.
func change(t *testing.T, s *site, blobs map[string][]byte) {
	t.Helper()
	ctx := context.Background()
	for _, q := range []string{
		"UPDATE bk_item SET name = 'changed', score = -1",
		"UPDATE bk_line SET note = 'changed'",
		"DELETE FROM bk_line WHERE id <= 10",
		"DELETE FROM bk_item WHERE id <= 10",
		"CREATE TABLE bk_after (id BIGINT PRIMARY KEY)",
	} {
		if _, err := s.d.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	insertItem(t, s.d, 5000, "after the backup", 0, "after")
	n := 0
	for k := range blobs {
		if n == 2 {
			break
		}
		if err := s.blobs.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
		n++
	}
	if _, err := s.blobs.Put(ctx, strings.NewReader("added after the backup")); err != nil {
		t.Fatal(err)
	}
}

// TestRoundTrip backs up while another connection keeps writing, changes
// everything, restores, and compares every row and blob with the backup.
func TestRoundTrip(t *testing.T) {
	for _, e := range dbtest.Engines() {
		for _, gz := range []bool{false, true} {
			name := e.Name + "/tar"
			if gz {
				name += ".gz"
			}
			t.Run(name, func(t *testing.T) { testRoundTrip(t, e, gz) })
		}
	}
}

func testRoundTrip(t *testing.T, e dbtest.Engine, gz bool) {
	ctx := context.Background()
	s := newSite(t, e)
	seeded := readItems(t, s.d)
	blobs := putBlobs(t, s.blobs)

	// Another process keeps inserting item+line pairs with ids 1001, 1002...
	w := s.open(t)
	wctx, stop := context.WithCancel(ctx)
	var committed atomic.Int64
	done := make(chan error, 1)
	go func() {
		for k := int64(1); ; k++ {
			err := insertPair(wctx, w, 1000+k, fmt.Sprintf("live %d", k), k, "live")
			if wctx.Err() != nil {
				done <- nil
				return
			}
			if err != nil {
				done <- err
				return
			}
			committed.Store(k)
		}
	}()
	for committed.Load() < 5 {
		time.Sleep(time.Millisecond)
	}

	dest := filepath.Join(t.TempDir(), "jnedu-backup.tar")
	created := time.Date(2025, 3, 1, 8, 30, 0, 0, time.FixedZone("CST", 8*3600))
	low := committed.Load()
	m, err := backup.Create(ctx, s.d, s.blobs, dest, backup.CreateOptions{Gzip: gz, Now: func() time.Time { return created }})
	// A pair may be committed but not yet counted: one more is possible.
	high := committed.Load() + 1
	stop()
	if werr := <-done; werr != nil {
		t.Fatalf("writer: %v", werr)
	}
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Logf("backup taken while the writer went from %d to %d pairs", low, high-1)

	if m.Format != backup.FormatVersion || m.Program != backup.Program || m.Dialect != s.d.Dialect() ||
		!m.CreatedAt.Equal(created) || m.BlobCount() != len(blobs) || len(m.Files) != len(blobs)+1 {
		t.Errorf("manifest = %+v", m)
	}
	v, err := backup.Verify(ctx, dest)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if !equalManifests(v, m) {
		t.Errorf("Verify manifest = %+v, want %+v", v, m)
	}
	if leftover := leftovers(t, filepath.Dir(dest)); len(leftover) > 0 {
		t.Errorf("Create left %v behind", leftover)
	}

	change(t, s, blobs)
	s.d.Close()
	w.Close()

	rm, err := backup.Restore(ctx, dest, s.url, s.dataDir, backup.RestoreOptions{})
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if !equalManifests(rm, m) {
		t.Errorf("Restore manifest = %+v, want %+v", rm, m)
	}

	d := s.open(t)
	got := readItems(t, d)
	// The seeded rows as they were, then live pairs 1..k for one k the
	// writer had reached: a consistent snapshot.
	if len(got) < len(seeded) || !slices.Equal(got[:len(seeded)], seeded) {
		t.Fatalf("seeded rows not restored as they were: got %d rows, first %+v", len(got), got[:min(3, len(got))])
	}
	live := got[len(seeded):]
	k := int64(len(live))
	if k < low || k > high {
		t.Errorf("restored %d live pairs; the writer had committed between %d and %d during the backup", k, low, high)
	}
	for i, it := range live {
		n := int64(i + 1)
		if want := (item{ID: 1000 + n, Name: fmt.Sprintf("live %d", n), Score: n, Note: "live"}); it != want {
			t.Fatalf("live row %d = %+v, want %+v", i, it, want)
		}
	}
	if _, err := d.Exec(ctx, "SELECT COUNT(*) FROM bk_after"); err == nil {
		t.Error("table bk_after, made after the backup, survived the restore")
	}
	if d.Dialect() == db.SQLite {
		var res string
		if err := d.QueryRow(ctx, "PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
			t.Errorf("integrity_check = %q, %v; want ok", res, err)
		}
	}
	restored, err := blob.OpenLocal(filepath.Join(s.dataDir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	sameBlobs(t, readBlobs(t, restored), blobs)
	if leftover := leftovers(t, s.dataDir); len(leftover) > 0 {
		t.Errorf("Restore left %v behind", leftover)
	}
	// The restored database is usable by the program.
	insertItem(t, d, 6000, "after the restore", 1, "ok")
}

func equalManifests(a, b backup.Manifest) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return bytes.Equal(ja, jb)
}

// entry locates the data of a tar entry in an archive.
func entry(t *testing.T, archive []byte, name string) (offset, size int64) {
	t.Helper()
	rd := bytes.NewReader(archive)
	tr := tar.NewReader(rd)
	for {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("entry %s not found: %v", name, err)
		}
		if hdr.Name == name {
			return int64(len(archive)) - int64(rd.Len()), hdr.Size
		}
	}
}

// TestCorruptArchive damages a backup in many places: Restore must refuse
// each, and leave the database and blobs as they were.
func TestCorruptArchive(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := dbtest.Engine{Open: func(testing.TB) *db.DB { return d }}
		s := newSite(t, e)
		blobs := putBlobs(t, s.blobs)
		dir := t.TempDir()
		plainPath, gzPath := filepath.Join(dir, "b.tar"), filepath.Join(dir, "b.tar.gz")
		m, err := backup.Create(ctx, s.d, s.blobs, plainPath, backup.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := backup.Create(ctx, s.d, s.blobs, gzPath, backup.CreateOptions{Gzip: true}); err != nil {
			t.Fatal(err)
		}
		plain, _ := os.ReadFile(plainPath)
		gz, _ := os.ReadFile(gzPath)

		change(t, s, blobs)
		wantItems := readItems(t, s.d)
		wantBlobs := readBlobs(t, s.blobs)

		largest := m.Files[1]
		for _, f := range m.Files[1:] {
			if f.Size > largest.Size {
				largest = f
			}
		}
		middle := func(name string) func([]byte) []byte {
			return func(a []byte) []byte {
				off, size := entry(t, a, name)
				return flip(a, off+size/2)
			}
		}
		at := func(marker string, delta int) func([]byte) []byte {
			return func(a []byte) []byte {
				i := bytes.Index(a, []byte(marker))
				if i < 0 {
					t.Fatalf("%q not in the archive", marker)
				}
				return flip(a, int64(i+delta))
			}
		}
		tests := []struct {
			name    string
			archive []byte
			damage  func([]byte) []byte
		}{
			{"manifest value", plain, at(`"created_at"`, 17)},
			{"manifest file name", plain, at(`"name": "blobs/`, 12)},
			{"manifest checksum", plain, at("  manifest.json\n", -10)},
			{"tar header", plain, func(a []byte) []byte { off, _ := entry(t, a, m.Database); return flip(a, off-512+3) }},
			{"database content", plain, middle(m.Database)},
			{"database first byte", plain, func(a []byte) []byte { off, _ := entry(t, a, m.Database); return flip(a, off) }},
			{"blob content", plain, middle(largest.Name)},
			{"end-of-archive block", plain, func(a []byte) []byte { return flip(a, int64(len(a)-1)) }},
			{"truncated", plain, func(a []byte) []byte { return a[:len(a)-2000] }},
			{"trailing data", plain, func(a []byte) []byte { return append(slices.Clip(a), "junk"...) }},
			{"gzip stream", gz, func(a []byte) []byte { return flip(a, int64(len(a)/2)) }},
			{"gzip checksum", gz, func(a []byte) []byte { return flip(a, int64(len(a)-6)) }},
			{"gzip truncated", gz, func(a []byte) []byte { return a[:len(a)-100] }},
			{"empty file", nil, func([]byte) []byte { return nil }},
			{"not an archive", nil, func([]byte) []byte { return randomBytes(3, 5000) }},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				src := filepath.Join(t.TempDir(), "damaged")
				if err := os.WriteFile(src, tt.damage(tt.archive), 0o600); err != nil {
					t.Fatal(err)
				}
				if _, err := backup.Verify(ctx, src); !errors.Is(err, backup.ErrCorrupt) {
					t.Errorf("Verify err = %v, want ErrCorrupt", err)
				}
				_, err := backup.Restore(ctx, src, s.url, s.dataDir, backup.RestoreOptions{})
				if !errors.Is(err, backup.ErrCorrupt) {
					t.Errorf("Restore err = %v, want ErrCorrupt", err)
				}
				if got := readItems(t, s.d); !slices.Equal(got, wantItems) {
					t.Errorf("rows changed by a refused restore: %d rows, want %d", len(got), len(wantItems))
				}
				sameBlobs(t, readBlobs(t, s.blobs), wantBlobs)
				if leftover := leftovers(t, s.dataDir); len(leftover) > 0 {
					t.Errorf("refused restore left %v behind", leftover)
				}
			})
		}
		// The undamaged archives are fine.
		for _, p := range []string{plainPath, gzPath} {
			if _, err := backup.Verify(ctx, p); err != nil {
				t.Errorf("Verify(%s): %v", filepath.Base(p), err)
			}
		}
	})
}

func flip(a []byte, off int64) []byte {
	b := slices.Clone(a)
	b[off] ^= 0x5a
	return b
}

// writeArchive builds an archive by hand, with a valid manifest checksum.
func writeArchive(t *testing.T, m any, entries map[string][]byte) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mj, _ := json.Marshal(m)
	sum := sha256.Sum256(mj)
	add := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: int64(len(data)), Mode: 0o600}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	add("manifest.json", mj)
	add("manifest.json.sha256", []byte(hex.EncodeToString(sum[:])+"  manifest.json\n"))
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		add(n, entries[n])
	}
	tw.Close()
	p := filepath.Join(t.TempDir(), "handmade.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRefusedArchives(t *testing.T) {
	ctx := context.Background()
	emptySum := sha256.Sum256(nil)
	empty := hex.EncodeToString(emptySum[:])
	manifest := func(format int, program, dialect string, files ...backup.File) backup.Manifest {
		return backup.Manifest{Format: format, Program: program, Dialect: db.Dialect(dialect), Database: "database/jnedu.db", Files: files}
	}
	dbFile := backup.File{Name: "database/jnedu.db", Size: 0, SHA256: empty}
	tests := []struct {
		name    string
		m       backup.Manifest
		entries map[string][]byte
		target  string
		wantErr error
	}{
		{"newer format", manifest(backup.FormatVersion+1, "jnedu", "sqlite", dbFile), map[string][]byte{dbFile.Name: nil}, "", backup.ErrNewerFormat},
		{"other program", manifest(1, "other", "sqlite", dbFile), map[string][]byte{dbFile.Name: nil}, "", backup.ErrCorrupt},
		{"format zero", manifest(0, "jnedu", "sqlite", dbFile), map[string][]byte{dbFile.Name: nil}, "", backup.ErrCorrupt},
		{"unknown dialect", manifest(1, "jnedu", "oracle", dbFile), map[string][]byte{dbFile.Name: nil}, "", backup.ErrCorrupt},
		{"database missing", manifest(1, "jnedu", "sqlite", dbFile), nil, "", backup.ErrCorrupt},
		{"entry not in manifest", manifest(1, "jnedu", "sqlite", dbFile), map[string][]byte{dbFile.Name: nil, "blobs/../../etc/passwd": []byte("x")}, "", backup.ErrCorrupt},
		{"blob named unlike its checksum", manifest(1, "jnedu", "sqlite", dbFile, backup.File{Name: "blobs/" + strings.Repeat("0", 64), SHA256: empty}),
			map[string][]byte{dbFile.Name: nil, "blobs/" + strings.Repeat("0", 64): nil}, "", backup.ErrCorrupt},
		{"sqlite backup into postgres", manifest(1, "jnedu", "sqlite", dbFile), map[string][]byte{dbFile.Name: nil}, "postgres://nobody@127.0.0.1:1/none", backup.ErrDialectMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := writeArchive(t, tt.m, tt.entries)
			dataDir := filepath.Join(t.TempDir(), "data")
			if _, err := backup.Restore(ctx, src, tt.target, dataDir, backup.RestoreOptions{}); !errors.Is(err, tt.wantErr) {
				t.Fatalf("Restore err = %v, want %v", err, tt.wantErr)
			}
			es, _ := os.ReadDir(dataDir)
			if len(es) != 0 {
				t.Errorf("refused restore left %d entries in the data folder", len(es))
			}
		})
	}
}

// TestRestoreIntoEmptyDataDir restores a SQLite backup into a new folder.
func TestRestoreIntoEmptyDataDir(t *testing.T) {
	ctx := context.Background()
	s := newSite(t, dbtest.Engine{Open: dbtest.SQLite})
	blobs := putBlobs(t, s.blobs)
	dest := filepath.Join(t.TempDir(), "b.tar")
	if _, err := backup.Create(ctx, s.d, s.blobs, dest, backup.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := readItems(t, s.d)
	dataDir := filepath.Join(t.TempDir(), "new")
	if _, err := backup.Restore(ctx, dest, "", dataDir, backup.RestoreOptions{}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	d, err := db.Open(ctx, "", dataDir, db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if got := readItems(t, d); !slices.Equal(got, want) {
		t.Errorf("restored %d rows, want %d", len(got), len(want))
	}
	store, err := blob.OpenLocal(filepath.Join(dataDir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	sameBlobs(t, readBlobs(t, store), blobs)
}

// TestCreateRefusesDamagedBlob: a blob whose content no longer matches its
// key fails the backup instead of going into it.
func TestCreateRefusesDamagedBlob(t *testing.T) {
	ctx := context.Background()
	s := newSite(t, dbtest.Engine{Open: dbtest.SQLite})
	info, err := s.blobs.Put(ctx, strings.NewReader("original content"))
	if err != nil {
		t.Fatal(err)
	}
	p, _ := s.blobs.Path(info.Key)
	if err := os.WriteFile(p, []byte("damaged content!"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dest := filepath.Join(dir, "b.tar")
	if _, err := backup.Create(ctx, s.d, s.blobs, dest, backup.CreateOptions{}); err == nil || !strings.Contains(err.Error(), info.Key) {
		t.Fatalf("Create err = %v, want a failure naming blob %s", err, info.Key)
	}
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("failed backup left %d files", len(es))
	}
}

// TestPostgresRestoreIsAtomic: when pg_restore dies halfway, or the script
// fails in psql, the database keeps what it had (the schema drop and the
// partial script are rolled back), and so does the blob folder.
func TestPostgresRestoreIsAtomic(t *testing.T) {
	if os.Getenv(dbtest.EnvPostgres) == "" {
		t.Skipf("%s is not set", dbtest.EnvPostgres)
	}
	ctx := context.Background()
	s := newSite(t, dbtest.Engine{Open: dbtest.Postgres})
	blobs := putBlobs(t, s.blobs)
	dest := filepath.Join(t.TempDir(), "b.tar")
	if _, err := backup.Create(ctx, s.d, s.blobs, dest, backup.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	change(t, s, blobs)
	wantItems := readItems(t, s.d)
	wantBlobs := readBlobs(t, s.blobs)

	tools := t.TempDir()
	tests := []struct{ name, script string }{
		{"pg_restore dies halfway", "#!/bin/sh\npg_restore \"$@\" | head -c 1500\nexit 1\n"},
		{"pg_restore fails after its whole script", "#!/bin/sh\npg_restore \"$@\"\nexit 1\n"},
		{"the script fails in psql", "#!/bin/sh\npg_restore \"$@\"\necho 'SELECT no_such_column FROM no_such_table;'\n"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := filepath.Join(tools, fmt.Sprintf("pg_restore_%d", i))
			if err := os.WriteFile(fake, []byte(tt.script), 0o700); err != nil {
				t.Fatal(err)
			}
			_, err := backup.Restore(ctx, dest, s.url, s.dataDir, backup.RestoreOptions{PgRestore: fake})
			if err == nil {
				t.Fatal("Restore succeeded with a failing pg_restore")
			}
			t.Logf("Restore: %v", err)
			if got := readItems(t, s.d); !slices.Equal(got, wantItems) {
				t.Errorf("rows changed by a failed restore: %d rows, want %d", len(got), len(wantItems))
			}
			if _, err := s.d.Exec(ctx, "SELECT COUNT(*) FROM bk_after"); err != nil {
				t.Errorf("table bk_after lost in a failed restore: %v", err)
			}
			sameBlobs(t, readBlobs(t, s.blobs), wantBlobs)
			if leftover := leftovers(t, s.dataDir); len(leftover) > 0 {
				t.Errorf("failed restore left %v behind", leftover)
			}
		})
	}
}

// TestRestoreSymlinkedBlobs: when dataDir/blobs links to another disk, the
// blobs are restored there and the link stays.
func TestRestoreSymlinkedBlobs(t *testing.T) {
	ctx := context.Background()
	s := newSite(t, dbtest.Engine{Open: dbtest.SQLite})
	blobs := putBlobs(t, s.blobs)
	dest := filepath.Join(t.TempDir(), "b.tar")
	if _, err := backup.Create(ctx, s.d, s.blobs, dest, backup.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	dataDir, disk := t.TempDir(), t.TempDir()
	real := filepath.Join(disk, "jnedu-blobs")
	old, err := blob.OpenLocal(real)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Put(ctx, strings.NewReader("replaced by the restore")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(real, filepath.Join(dataDir, "blobs")); err != nil {
		t.Fatal(err)
	}
	if _, err := backup.Restore(ctx, dest, "", dataDir, backup.RestoreOptions{}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if fi, err := os.Lstat(filepath.Join(dataDir, "blobs")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("dataDir/blobs is no longer a link (err %v)", err)
	}
	store, err := blob.OpenLocal(real)
	if err != nil {
		t.Fatal(err)
	}
	sameBlobs(t, readBlobs(t, store), blobs)
	for _, dir := range []string{dataDir, disk} {
		if leftover := leftovers(t, dir); len(leftover) > 0 {
			t.Errorf("Restore left %v in %s", leftover, dir)
		}
	}
}
