package share

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"jnedu/internal/platform/blob"
	"jnedu/internal/platform/db"
	"jnedu/internal/platform/jobs"
	"jnedu/internal/share/media"
)

// JobKind names the processing job.
const JobKind = "share.process"

// ProcessConfig tunes processing.
type ProcessConfig struct {
	WorkDir      string        // scratch space (DATA/work/share)
	Concurrency  int           // processing jobs at once on this server (default 1)
	Preset       string        // libx264 preset (default veryfast)
	Threads      int           // ffmpeg threads (0: ffmpeg decides)
	KeepOriginal bool          // keep the uploaded original after processing
	Timeout      time.Duration // one job (default 12h)
	Sizes        []int         // ladder short sides (default 360, 540, 720, 1080)
}

// Processor turns an uploaded original into HLS renditions, a poster and a
// seek-preview sprite: probe → (copy fast path | first rung alone) →
// the rest of the ladder in one ffmpeg run.
type Processor struct {
	svc   *Service
	queue *jobs.Queue
	tools media.Tools
	cfg   ProcessConfig
}

// NewProcessor registers the processing job on the queue and connects the
// service to it.
func NewProcessor(svc *Service, q *jobs.Queue, cfg ProcessConfig) *Processor {
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 1
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 12 * time.Hour
	}
	p := &Processor{svc: svc, queue: q, cfg: cfg,
		tools: media.Tools{Preset: cfg.Preset, Threads: cfg.Threads, Log: svc.log}}
	q.Handle(JobKind, p.run, jobs.HandlerOptions{Concurrency: cfg.Concurrency, Timeout: cfg.Timeout})
	svc.SetEnqueuer(p)
	return p
}

type processPayload struct {
	SHA256 string `json:"sha256"`
}

// EnqueueProcess implements Enqueuer: the job commits with the upload.
func (p *Processor) EnqueueProcess(ctx context.Context, tx db.Querier, sha string) error {
	_, err := p.queue.Enqueue(ctx, tx, JobKind, processPayload{SHA256: sha}, jobs.EnqueueOptions{UniqueKey: "share.process:" + sha, MaxAttempts: 3})
	return err
}

// Notify wakes the queue after a commit.
func (p *Processor) Notify() { p.queue.Notify() }

func (p *Processor) run(ctx context.Context, j *jobs.Job) error {
	var pl processPayload
	if err := json.Unmarshal(j.Payload, &pl); err != nil || len(pl.SHA256) != 64 {
		return fmt.Errorf("%w: bad payload %s", jobs.ErrPermanent, j.Payload)
	}
	err := p.process(ctx, j, pl.SHA256)
	if err == nil {
		return nil
	}
	reason := media.Reason(err)
	if media.KindOf(err) != nil {
		// The file itself is the problem: say why, do not retry.
		p.svc.SetMediaState(context.WithoutCancel(ctx), nil, pl.SHA256, StateFailed, "share.reason_"+reason, 0) //nolint:errcheck
		return fmt.Errorf("%w: %v", jobs.ErrPermanent, err)
	}
	if j.Attempts >= j.MaxAttempts {
		p.svc.SetMediaState(context.WithoutCancel(ctx), nil, pl.SHA256, StateFailed, "share.reason_internal", 0) //nolint:errcheck
	}
	return err
}

// source gives a local file for ffmpeg: the blob itself when the store is
// a folder, a copy in the work folder otherwise.
func (p *Processor) source(ctx context.Context, sha, dir string) (string, func(), error) {
	if l, ok := p.svc.blobs.(*blob.Local); ok {
		path, err := l.Path(sha)
		return path, func() {}, err
	}
	rc, _, err := p.svc.blobs.Open(ctx, sha)
	if err != nil {
		return "", nil, err
	}
	defer rc.Close()
	path := filepath.Join(dir, "original")
	f, err := os.Create(path)
	if err != nil {
		return "", nil, err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return "", nil, err
	}
	if err := f.Close(); err != nil {
		return "", nil, err
	}
	return path, func() { os.Remove(path) }, nil
}

func (p *Processor) process(ctx context.Context, j *jobs.Job, sha string) error {
	s := p.svc
	dir := filepath.Join(p.cfg.WorkDir, sha)
	os.RemoveAll(dir) // a previous attempt's leftovers
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src, done, err := p.source(ctx, sha, dir)
	if err != nil {
		return err
	}
	defer done()
	if err := s.SetMediaState(ctx, nil, sha, StateProbing, "", 0); err != nil {
		return err
	}
	info, err := p.tools.Probe(ctx, src)
	if err != nil {
		return err
	}
	vcodec, w, h := info.Video.Codec, info.Video.DisplayWidth, info.Video.DisplayHeight
	acodec := ""
	if info.Audio != nil {
		acodec = info.Audio.Codec
	}
	if _, err := s.db.Exec(ctx, `UPDATE share_media SET duration_ms = ?, width = ?, height = ?, video_codec = ?, audio_codec = ?, state = ?, updated_at = ?
		WHERE sha256 = ?`, info.Duration.Milliseconds(), w, h, vcodec, acodec, StatePackaging, s.ms(), sha); err != nil {
		return err
	}
	plan := media.PlanFor(info, media.PlanOptions{Sizes: p.cfg.Sizes})
	var (
		mu       sync.Mutex
		pubErr   error
		first    = true
		imagesCh = make(chan error, 1)
	)
	ready := func(r media.Rendition) {
		mu.Lock()
		defer mu.Unlock()
		if pubErr != nil {
			return
		}
		if err := p.publish(ctx, sha, dir, r); err != nil {
			pubErr = err
			return
		}
		j.SetProgress(ctx, 50, "playable: "+r.Name) //nolint:errcheck // progress is informative
		if first {
			first = false
			// Pictures come after playback starts: they never delay it.
			go func() { imagesCh <- p.images(ctx, sha, src, dir, info) }()
		}
	}
	if _, err := p.tools.Publish(ctx, src, filepath.Join(dir, "hls"), info, plan, ready); err != nil {
		return err
	}
	mu.Lock()
	err = pubErr
	started := !first
	mu.Unlock()
	if err != nil {
		return err
	}
	if started {
		if err := <-imagesCh; err != nil {
			s.log.Warn("video pictures", "media", sha, "err", err)
		}
	}
	if err := s.SetMediaState(ctx, nil, sha, StateReady, "", 100); err != nil {
		return err
	}
	if !p.cfg.KeepOriginal {
		if _, err := s.db.Exec(ctx, "UPDATE share_media SET original_kept = FALSE WHERE sha256 = ?", sha); err == nil {
			s.blobs.Delete(ctx, sha) //nolint:errcheck // best effort; the media is ready
		}
	}
	return nil
}

// publish stores a finished rendition's files and the current master
// playlist, and makes the media playable.
func (p *Processor) publish(ctx context.Context, sha, dir string, r media.Rendition) error {
	s := p.svc
	hls := filepath.Join(dir, "hls")
	err := filepath.WalkDir(filepath.Join(hls, r.Name), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(hls, path)
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		return s.PutFile(ctx, nil, sha, filepath.ToSlash(rel), f)
	})
	if err != nil {
		return fmt.Errorf("store rendition %s: %w", r.Name, err)
	}
	master, err := os.Open(filepath.Join(hls, media.MasterName))
	if err != nil {
		return err
	}
	defer master.Close()
	return s.db.InTx(ctx, func(tx *db.Tx) error {
		if err := s.PutFile(ctx, tx, sha, "master.m3u8", master); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO share_renditions (media_sha256, name, width, height, bandwidth, codecs, frame_rate, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (media_sha256, name) DO NOTHING`,
			sha, r.Name, r.Width, r.Height, r.Bandwidth, r.Codecs, r.FrameRate, s.ms()); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE share_media SET playable = TRUE, state = ?, updated_at = ? WHERE sha256 = ?", StateEncoding, s.ms(), sha)
		return err
	})
}

// images makes the poster and the seek-preview sprite.
func (p *Processor) images(ctx context.Context, sha, src, dir string, info media.Info) error {
	poster := filepath.Join(dir, "poster.jpg")
	if err := p.tools.Poster(ctx, src, poster, info); err != nil {
		return err
	}
	var errs []error
	if f, err := os.Open(poster); err == nil {
		errs = append(errs, p.svc.PutFile(ctx, nil, sha, "poster.jpg", f))
		f.Close()
	}
	sheets, vtt, err := p.tools.Sprite(ctx, src, filepath.Join(dir, "sprite"), info, 10*time.Second)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, path := range append(sheets, vtt) {
		f, err := os.Open(path)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, p.svc.PutFile(ctx, nil, sha, "sprite/"+filepath.Base(path), f))
		f.Close()
	}
	return errors.Join(errs...)
}
