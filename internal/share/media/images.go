package media

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Picture sizes (longer side, never upscaled).
const (
	PosterSize    = 1280 // the poster shown before playback
	ThumbnailSize = 480  // thumbnails for lists and the cover chooser
	SpriteTile    = 160  // one tile of the seek-preview sprite
	spriteCols    = 10
	spriteRows    = 10   // per sheet; a long video gets several sheets
	maxTiles      = 2000 // the interval grows so a long video stays under this
)

// errNoFrame: ffmpeg ran but decoded no picture at that time.
var errNoFrame = errors.New("no picture decoded")

// toneMap is the HDR (PQ or HLG) to SDR BT.709 conversion a picture needs,
// nil for SDR. It goes after the downscale, where it costs least
// (rotation is done by ffmpeg itself).
func toneMap(v Video) []string {
	if v.HDR() {
		return []string{"zscale=t=linear:npl=100", "format=gbrpf32le", "zscale=p=bt709",
			"tonemap=tonemap=hable:desat=0", "zscale=t=bt709:m=bt709:r=tv"}
	}
	return nil
}

// fit scales the displayed size so its longer side is at most long.
func fit(v Video, long int) (w, h int) {
	dw, dh := float64(v.DisplayWidth), float64(v.DisplayHeight)
	if s := float64(long) / max(dw, dh); s < 1 {
		dw, dh = dw*s, dh*s
	}
	return even(dw), even(dh)
}

// Poster writes a JPEG (longer side at most PosterSize) of a representative
// frame near the start: ffmpeg's thumbnail filter picks, among the frames
// after 10% of the video (at most 10 s in), the one most like the others,
// which avoids black and fading frames.
func (t Tools) Poster(ctx context.Context, src, outJPG string, info Info) error {
	at := min(info.Duration/10, 10*time.Second)
	err := t.frameAt(ctx, src, outJPG, info, at, PosterSize, 48)
	if errors.Is(err, errNoFrame) && at > 0 {
		err = t.frameAt(ctx, src, outJPG, info, 0, PosterSize, 1)
	}
	if errors.Is(err, errNoFrame) {
		return &Error{Kind: ErrCorrupt, Detail: "poster: no picture could be decoded"}
	}
	return err
}

// frameAt writes one picture from time at, picked among the next pick
// frames.
func (t Tools) frameAt(ctx context.Context, src, out string, info Info, at time.Duration, long, pick int) error {
	src, out, err := absPaths(src, out)
	if err != nil {
		return err
	}
	tmp, err := tempDir(filepath.Dir(out), "poster")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	w, h := fit(info.Video, long)
	filters := append([]string{fmt.Sprintf("scale=w=%d:h=%d:flags=bicubic", w, h)}, toneMap(info.Video)...)
	if pick > 1 {
		filters = append(filters, fmt.Sprintf("thumbnail=n=%d", pick))
	}
	filters = append(filters, "setsar=1")
	args := append(t.ffmpegArgs(), "-ss", formatSeconds(at))
	args = append(args, inputArgs(src)...)
	args = append(args, "-map", fmt.Sprintf("0:%d", info.Video.Index), "-vf", strings.Join(filters, ","),
		"-frames:v", "1", "-q:v", "3", "-f", "image2", "-c:v", "mjpeg", "-update", "1", "poster.jpg")
	if _, err := t.run(ctx, job{step: "poster", bin: t.ffmpeg(), args: args, dir: tmp,
		timeout: t.Timeouts.withDefaults().Base}); err != nil {
		return err
	}
	if st, err := os.Stat(filepath.Join(tmp, "poster.jpg")); err != nil || st.Size() == 0 {
		return errNoFrame
	}
	return install(filepath.Join(tmp, "poster.jpg"), out)
}

// Thumbnails writes n JPEGs (longer side at most ThumbnailSize) spread
// evenly over the video, dir/thumb_01.jpg ..., in one ffmpeg run (one
// fast input seek each), and returns their paths.
func (t Tools) Thumbnails(ctx context.Context, src, dir string, info Info, n int) ([]string, error) {
	n = min(max(n, 1), 20)
	src, dir, err := absPaths(src, dir)
	if err != nil {
		return nil, err
	}
	tmp, err := tempDir(dir, "thumbs")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	w, h := fit(info.Video, ThumbnailSize)
	vf := strings.Join(append(append([]string{fmt.Sprintf("scale=w=%d:h=%d:flags=bicubic", w, h)}, toneMap(info.Video)...), "setsar=1"), ",")
	args := t.ffmpegArgs()
	for i := range n {
		at := time.Duration((float64(i) + 0.5) / float64(n) * float64(info.Duration))
		args = append(args, "-ss", formatSeconds(at.Truncate(time.Millisecond)))
		args = append(args, inputArgs(src)...)
	}
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("thumb_%02d.jpg", i+1)
		args = append(args, "-map", fmt.Sprintf("%d:%d", i, info.Video.Index), "-vf", vf,
			"-frames:v", "1", "-q:v", "4", "-f", "image2", "-c:v", "mjpeg", "-update", "1", names[i])
	}
	if _, err := t.run(ctx, job{step: "thumbnails", bin: t.ffmpeg(), args: args, dir: tmp,
		timeout: t.Timeouts.withDefaults().Base}); err != nil {
		return nil, err
	}
	var paths []string
	for _, name := range names {
		from := filepath.Join(tmp, name)
		if st, err := os.Stat(from); err != nil || st.Size() == 0 {
			continue // a seek past the last decodable frame: fewer thumbnails
		}
		if err := install(from, filepath.Join(dir, name)); err != nil {
			return paths, err
		}
		paths = append(paths, filepath.Join(dir, name))
	}
	if len(paths) == 0 {
		return nil, &Error{Kind: ErrCorrupt, Detail: "thumbnails: no picture could be decoded"}
	}
	return paths, nil
}

// Sprite writes the seek-preview sprite: one tile (longer side SpriteTile)
// per interval (default 5 s; longer when the video would need more than
// 2000 tiles) on sheets of 10×10 tiles, dir/sprite_001.jpg ..., and
// dir/sprite.vtt, a WebVTT file whose cues cover the whole duration and
// point at the tiles with #xywh=x,y,w,h. Only keyframes are decoded
// (-skip_frame nokey): a tile shows the last keyframe at or before its
// time. It returns the sheets' paths and the VTT's path.
func (t Tools) Sprite(ctx context.Context, src, dir string, info Info, interval time.Duration) (sheets []string, vtt string, err error) {
	if interval <= 0 {
		interval = 5 * time.Second
	}
	if info.Duration <= 0 {
		return nil, "", errors.New("media: sprite: unknown duration")
	}
	if n := math.Ceil(float64(info.Duration) / float64(interval)); n > maxTiles {
		interval = time.Duration(math.Ceil(float64(info.Duration)/maxTiles/float64(time.Second))) * time.Second
	}
	tiles := max(1, int(math.Ceil(float64(info.Duration)/float64(interval)-1e-9)))
	cols, rows := spriteCols, spriteRows
	if tiles < cols*rows {
		cols = min(tiles, spriteCols)
		rows = (tiles + cols - 1) / cols
	}
	perSheet := cols * rows
	nSheets := (tiles + perSheet - 1) / perSheet
	tw, th := fit(info.Video, SpriteTile)

	src, dir, err = absPaths(src, dir)
	if err != nil {
		return nil, "", err
	}
	tmp, err := tempDir(dir, "sprite")
	if err != nil {
		return nil, "", err
	}
	defer os.RemoveAll(tmp)

	ms := interval.Milliseconds()
	filters := []string{
		"setpts=PTS-STARTPTS",
		// One frame per interval: the keyframe shown at that time (a lone
		// last keyframe is passed, not dropped, at the end).
		fmt.Sprintf("fps=fps=1000/%d:eof_action=pass", ms),
		fmt.Sprintf("tpad=stop_mode=clone:stop=%d", tiles),
		fmt.Sprintf("trim=end_frame=%d", tiles), // exactly one frame per tile
		fmt.Sprintf("scale=w=%d:h=%d:flags=bilinear", tw, th),
	}
	filters = append(append(filters, toneMap(info.Video)...), "setsar=1", fmt.Sprintf("tile=%dx%d", cols, rows))
	args := append(t.ffmpegArgs(), "-skip_frame", "nokey")
	args = append(args, inputArgs(src)...)
	args = append(args, "-map", fmt.Sprintf("0:%d", info.Video.Index), "-vf", strings.Join(filters, ","),
		"-fps_mode", "passthrough", "-q:v", "5", "-f", "image2", "-c:v", "mjpeg", "-start_number", "1", "sprite_%03d.jpg")
	if _, err := t.run(ctx, job{step: "sprite", bin: t.ffmpeg(), args: args, dir: tmp,
		timeout: t.runTimeout(info.Duration), total: info.Duration, progress: true}); err != nil {
		return nil, "", err
	}

	var cues strings.Builder
	cues.WriteString("WEBVTT\n")
	for i := range tiles {
		start := time.Duration(i) * interval
		end := min(start+interval, info.Duration)
		j := i % perSheet
		fmt.Fprintf(&cues, "\n%s --> %s\n%s#xywh=%d,%d,%d,%d\n", vttTime(start), vttTime(end),
			sheetName(i/perSheet), (j%cols)*tw, (j/cols)*th, tw, th)
	}
	for s := range nSheets {
		from := filepath.Join(tmp, sheetName(s))
		if st, err := os.Stat(from); err != nil || st.Size() == 0 {
			return nil, "", &Error{Kind: ErrFailed, Detail: fmt.Sprintf("sprite: sheet %d of %d missing", s+1, nSheets)}
		}
	}
	for s := range nSheets {
		to := filepath.Join(dir, sheetName(s))
		if err := install(filepath.Join(tmp, sheetName(s)), to); err != nil {
			return nil, "", err
		}
		sheets = append(sheets, to)
	}
	vtt = filepath.Join(dir, "sprite.vtt")
	if err := writeFileAtomic(vtt, []byte(cues.String())); err != nil {
		return nil, "", err
	}
	return sheets, vtt, nil
}

func sheetName(i int) string { return "sprite_" + fmt.Sprintf("%03d", i+1) + ".jpg" }

// vttTime formats d as WebVTT's hh:mm:ss.ttt.
func vttTime(d time.Duration) string {
	ms := d.Milliseconds()
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3_600_000, ms/60_000%60, ms/1000%60, ms%1000)
}
