package site

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math"
	"path/filepath"
	"strings"

	"jnedu/internal/platform/db"
)

// Recording format: 16 kHz mono 16-bit PCM.
const (
	SampleRate = 16000
	// silence measure: 20 ms frames whose RMS is above -45 dBFS count as
	// speech; a recording with less than half a second of it is silent.
	vadFrame     = SampleRate / 50
	vadThreshold = 184.0 // ≈ -45 dBFS of 32768
	silentMs     = 500
)

// Recording is an assembled answer.
type Recording struct {
	Attempt    string `json:"attempt"`
	Item       string `json:"item"`
	SHA256     string `json:"sha256"`
	Bytes      int64  `json:"bytes"`
	DurationMs int64  `json:"duration_ms"`
	SpeechMs   int64  `json:"speech_ms"`
	Silent     bool   `json:"silent"`
	Chunks     int    `json:"chunks"`
	Gaps       string `json:"gaps,omitempty"`
}

func (n *Node) recordingPath(attempt, item string) string {
	return filepath.Join(n.opt.DataDir, "answers", attempt, item+".wav")
}

func (n *Node) assemble(ctx context.Context, a *Attempt, item string, chunks int, by string) error {
	n.itemMu.Lock()
	defer n.itemMu.Unlock()
	return n.assembleLocked(ctx, a, item, chunks)
}

// assembleLocked joins the item's chunks in order into a WAV file (synced),
// measures it and records it. Missing sequence numbers below the final
// count are reported as gaps.
func (n *Node) assembleLocked(ctx context.Context, a *Attempt, item string, chunks int) error {
	seqs := n.chunk.Seqs(a.ID, item)
	total := chunks
	if len(seqs) > 0 && int(seqs[len(seqs)-1])+1 > total {
		total = int(seqs[len(seqs)-1]) + 1
	}
	var pcm bytes.Buffer
	var missing []int
	have := map[uint32]bool{}
	for _, s := range seqs {
		have[s] = true
	}
	for s := 0; s < total; s++ {
		if !have[uint32(s)] {
			missing = append(missing, s)
			continue
		}
		b, err := n.chunk.Read(ChunkKey{Attempt: a.ID, Item: item, Seq: uint32(s)})
		if err != nil {
			return err
		}
		pcm.Write(b)
	}
	wav := WAV(pcm.Bytes())
	sum := sha256.Sum256(wav)
	rec := Recording{Attempt: a.ID, Item: item, SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(wav)),
		DurationMs: int64(pcm.Len()/2) * 1000 / SampleRate, Chunks: len(seqs), Gaps: ranges(missing)}
	rec.SpeechMs = SpeechMs(pcm.Bytes())
	rec.Silent = rec.SpeechMs < silentMs
	if err := writeFileSync(n.fs, n.recordingPath(a.ID, item), wav, 0o600); err != nil {
		if IsDiskFull(err) {
			n.raise("disk", "exam.site.alarm_disk")
		}
		return err
	}
	return n.db.InTx(ctx, func(tx *db.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO examsite_recordings (attempt, item, sha256, bytes, duration_ms, speech_ms, silent, chunks, gaps, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (attempt, item) DO UPDATE SET sha256 = excluded.sha256, bytes = excluded.bytes, duration_ms = excluded.duration_ms,
			speech_ms = excluded.speech_ms, silent = excluded.silent, chunks = excluded.chunks, gaps = excluded.gaps, created_at = excluded.created_at`,
			rec.Attempt, rec.Item, rec.SHA256, rec.Bytes, rec.DurationMs, rec.SpeechMs, rec.Silent, rec.Chunks, rec.Gaps, n.now())
		return err
	})
}

// WAV wraps 16 kHz mono 16-bit PCM in a RIFF header.
func WAV(pcm []byte) []byte {
	var b bytes.Buffer
	w := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("RIFF")
	w(uint32(36 + len(pcm)))
	b.WriteString("WAVEfmt ")
	w(uint32(16))
	w(uint16(1))              // PCM
	w(uint16(1))              // mono
	w(uint32(SampleRate))     // rate
	w(uint32(SampleRate * 2)) // byte rate
	w(uint16(2))              // block align
	w(uint16(16))             // bits
	b.WriteString("data")
	w(uint32(len(pcm)))
	b.Write(pcm)
	return b.Bytes()
}

// SpeechMs measures how much of the PCM is above the silence threshold
// (simple energy measure over 20 ms frames).
func SpeechMs(pcm []byte) int64 {
	samples := len(pcm) / 2
	var speech int64
	for f := 0; f+vadFrame <= samples; f += vadFrame {
		var sum float64
		for i := f; i < f+vadFrame; i++ {
			v := float64(int16(binary.LittleEndian.Uint16(pcm[2*i:])))
			sum += v * v
		}
		if math.Sqrt(sum/vadFrame) > vadThreshold {
			speech += 20
		}
	}
	return speech
}

// ranges spells sorted numbers as "3,7-9".
func ranges(xs []int) string {
	var parts []string
	for i := 0; i < len(xs); {
		j := i
		for j+1 < len(xs) && xs[j+1] == xs[j]+1 {
			j++
		}
		if i == j {
			parts = append(parts, fmt.Sprint(xs[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", xs[i], xs[j]))
		}
		i = j + 1
	}
	return strings.Join(parts, ",")
}

// Recordings lists the attempt's recordings.
func (n *Node) Recordings(ctx context.Context, attempt string) (map[string]Recording, error) {
	rows, err := n.db.Query(ctx, `SELECT item, sha256, bytes, duration_ms, speech_ms, silent, chunks, gaps
		FROM examsite_recordings WHERE attempt = ?`, attempt)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]Recording{}
	for rows.Next() {
		r := Recording{Attempt: attempt}
		if err := rows.Scan(&r.Item, &r.SHA256, &r.Bytes, &r.DurationMs, &r.SpeechMs, &r.Silent, &r.Chunks, &r.Gaps); err != nil {
			return nil, err
		}
		out[r.Item] = r
	}
	return out, rows.Err()
}
