package media

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Rendition is one finished HLS media playlist (fMP4 segments) in its own
// folder under a video's folder: <name>/index.m3u8, init.mp4,
// seg_00001.m4s, ...
type Rendition struct {
	Name     string // folder name: "source" for the copied original, "360p", "720p", ...
	Playlist string // the media playlist, relative to the video's folder: "360p/index.m3u8"
	Width    int    // picture size, from the init segment
	Height   int
	// FrameRate is frames per second (0 when unknown).
	FrameRate float64
	// Codecs is the RFC 6381 CODECS value read from the init segment:
	// "avc1.64001f,mp4a.40.2".
	Codecs string
	// Bandwidth is the peak segment bit rate, AverageBandwidth the mean,
	// both measured on the written segments (bits/s, sound included).
	Bandwidth        int
	AverageBandwidth int
	Duration         time.Duration // sum of the segment durations
	Segments         int
	LongestSegment   time.Duration
	Copied           bool // the video was copied from the source, not encoded
}

// File names inside a rendition folder.
const (
	PlaylistName   = "index.m3u8"  // media playlist
	InitName       = "init.mp4"    // fMP4 initialisation segment
	MasterName     = "master.m3u8" // written by Publish in the video's folder
	CopyName       = "source"      // folder of the copied original
	segmentPattern = "seg_%05d.m4s"
)

// ffmpegArgs starts every ffmpeg command line: quiet, no stdin, progress on
// stdout.
func (t Tools) ffmpegArgs() []string {
	args := []string{"-hide_banner", "-nostdin", "-y", "-v", "error", "-nostats", "-progress", "pipe:1", "-stats_period", "0.5"}
	if t.Threads > 0 {
		args = append(args, "-filter_complex_threads", strconv.Itoa(t.Threads), "-threads", strconv.Itoa(t.Threads))
	}
	return args
}

// hlsArgs are the output options of one VOD fMP4 HLS rendition written
// under prefix ("" or "360p/") of the working directory.
func (t Tools) hlsArgs(prefix string) []string {
	return []string{
		"-map_metadata", "-1", "-map_chapters", "-1", // no camera GPS or device names in what is shared
		"-f", "hls", "-hls_time", formatSeconds(t.segment()), "-hls_playlist_type", "vod",
		"-hls_segment_type", "fmp4", "-hls_fmp4_init_filename", InitName,
		"-hls_segment_filename", prefix + segmentPattern, "-start_number", "1",
		"-hls_flags", "independent_segments",
		prefix + PlaylistName,
	}
}

// audioArgs encode (or copy) the sound of one output.
func audioArgs(a *Audio, copyIt bool, bitrate int) []string {
	switch {
	case a == nil:
		return nil
	case copyIt:
		// ADTS AAC (from MPEG-TS) needs its headers moved into the init
		// segment; the filter leaves MP4-style AAC as it is.
		return []string{"-c:a", "copy", "-bsf:a", "aac_adtstoasc"}
	}
	args := []string{"-c:a", "aac", "-b:a", strconv.Itoa(max(bitrate, 32_000))}
	if a.Channels > 2 || a.Channels <= 0 {
		args = append(args, "-ac", "2")
	}
	if a.SampleRate != 44100 && a.SampleRate != 48000 {
		args = append(args, "-ar", "48000")
	}
	return args
}

// PackageCopy is the fast path: the source's H.264 video is packaged as
// HLS (fMP4, VOD, segments of t.Segment cut at the source's keyframes)
// without re-encoding; AAC-LC sound is copied, other sound encoded to AAC.
// The rendition is written to dir/source/ (replacing an older one) only
// once it is complete.
func (t Tools) PackageCopy(ctx context.Context, src, dir string, info Info) (Rendition, error) {
	if why := copyBlocker(info, 0); why != "" {
		return Rendition{}, fmt.Errorf("media: package copy: %s", why)
	}
	src, dir, err := absPaths(src, dir)
	if err != nil {
		return Rendition{}, err
	}
	tmp, err := tempDir(dir, CopyName)
	if err != nil {
		return Rendition{}, err
	}
	defer os.RemoveAll(tmp)

	args := append(t.ffmpegArgs(), inputArgs(src)...)
	args = append(args, "-map", fmt.Sprintf("0:%d", info.Video.Index), "-c:v", "copy")
	if info.Audio != nil {
		args = append(args, "-map", fmt.Sprintf("0:%d", info.Audio.Index))
		args = append(args, audioArgs(info.Audio, audioCopyable(info.Audio), 128_000)...)
	}
	args = append(args, t.hlsArgs("")...)
	if _, err := t.run(ctx, job{
		step: "package", bin: t.ffmpeg(), args: args, dir: tmp,
		timeout: t.runTimeout(info.Duration), total: info.Duration, progress: true,
	}); err != nil {
		return Rendition{}, err
	}
	r, err := readRendition(tmp, CopyName, info.Duration)
	if err != nil {
		return Rendition{}, err
	}
	r.Copied, r.FrameRate = true, info.Video.FrameRate
	if err := install(tmp, filepath.Join(dir, CopyName)); err != nil {
		return Rendition{}, err
	}
	return r, nil
}

// EncodeLadder encodes all rungs in ONE ffmpeg run: the source is decoded
// once, split, and each branch scaled and encoded with libx264 into
// dir/<rung name>/. Every rendition has closed GOPs of exactly t.Segment
// (keyframes forced at each multiple of it, no scene-cut keyframes), so
// segments line up across renditions. The renditions appear in dir (and
// ready, if set, is called for each) when the run is complete; nothing is
// left in dir on failure.
func (t Tools) EncodeLadder(ctx context.Context, src, dir string, info Info, rungs []Rung, ready func(Rendition)) ([]Rendition, error) {
	if len(rungs) == 0 {
		return nil, nil
	}
	src, dir, err := absPaths(src, dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(rungs))
	for i, r := range rungs {
		if r.Name == "" || r.Name == CopyName || strings.ContainsAny(r.Name, `/\`) || strings.HasPrefix(r.Name, ".") ||
			r.Width < 2 || r.Height < 2 {
			return nil, fmt.Errorf("media: bad rung %+v", r)
		}
		names[i] = r.Name
	}
	step := "ladder " + strings.Join(names, "+")
	if len(rungs) == 1 {
		step = "encode " + names[0]
	}
	tmp, err := tempDir(dir, "ladder")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, n := range names {
		if err := os.Mkdir(filepath.Join(tmp, n), 0o755); err != nil {
			return nil, fmt.Errorf("media: %w", err)
		}
	}

	args := append(t.ffmpegArgs(), inputArgs(src)...)
	args = append(args, "-filter_complex", ladderGraph(info.Video, rungs))
	for i, r := range rungs {
		args = append(args, "-map", fmt.Sprintf("[v%d]", i))
		if info.Audio != nil {
			args = append(args, "-map", fmt.Sprintf("0:%d", info.Audio.Index))
		}
		args = append(args, t.x264Args(r, info.Video)...)
		args = append(args, audioArgs(info.Audio, false, r.AudioBitrate)...)
		args = append(args, t.hlsArgs(r.Name+"/")...)
	}
	if _, err := t.run(ctx, job{
		step: step, bin: t.ffmpeg(), args: args, dir: tmp,
		timeout: t.runTimeout(info.Duration), total: info.Duration, progress: true,
	}); err != nil {
		return nil, err
	}

	out := make([]Rendition, len(rungs))
	for i, r := range rungs {
		rd, err := readRendition(filepath.Join(tmp, r.Name), r.Name, info.Duration)
		if err != nil {
			return nil, err
		}
		if rd.Width != r.Width || rd.Height != r.Height {
			return nil, &Error{Kind: ErrFailed, Detail: fmt.Sprintf("%s came out %d×%d, want %d×%d", r.Name, rd.Width, rd.Height, r.Width, r.Height)}
		}
		rd.FrameRate = r.FrameRate
		if rd.FrameRate == 0 {
			rd.FrameRate = info.Video.FrameRate
		}
		out[i] = rd
	}
	for i, r := range out {
		if err := install(filepath.Join(tmp, r.Name), filepath.Join(dir, r.Name)); err != nil {
			return out[:i], err
		}
		if ready != nil {
			ready(r)
		}
	}
	return out, nil
}

// ladderGraph is the -filter_complex of a ladder: one decode (ffmpeg has
// already turned a rotated picture upright), deinterlacing and HDR tone
// mapping once, then a split into one scaler per rung.
func ladderGraph(v Video, rungs []Rung) string {
	var pre []string
	if v.Interlaced() || (v.Codec == "mpeg2video" && v.FieldOrder != "progressive") {
		pre = append(pre, "yadif=mode=send_frame:deint=interlaced")
	}
	// PQ/HLG (phones record HLG by default) to SDR BT.709, else the picture
	// comes out grey and washed out: once, at the largest rung's size (the
	// float conversion is the costly part).
	if tm := toneMap(v); tm != nil {
		top := rungs[0]
		for _, r := range rungs {
			if r.Width*r.Height > top.Width*top.Height {
				top = r
			}
		}
		if top.Width*top.Height < v.DisplayWidth*v.DisplayHeight {
			pre = append(pre, fmt.Sprintf("scale=w=%d:h=%d:flags=bicubic", top.Width, top.Height))
		}
		pre = append(pre, tm...)
	}
	n := len(rungs)
	if n > 1 {
		split := fmt.Sprintf("split=%d", n)
		for i := range rungs {
			split += fmt.Sprintf("[s%d]", i)
		}
		pre = append(pre, split)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "[0:%d]", v.Index)
	if len(pre) == 0 {
		pre = []string{"null"}
	}
	b.WriteString(strings.Join(pre, ","))
	for i, r := range rungs {
		if n > 1 {
			fmt.Fprintf(&b, ";[s%d]", i)
		} else {
			b.WriteString(",")
		}
		if r.FrameRate > 0 && (v.FrameRate == 0 || r.FrameRate < v.FrameRate-0.01) {
			fmt.Fprintf(&b, "fps=%s,", strconv.FormatFloat(r.FrameRate, 'f', -1, 64))
		}
		fmt.Fprintf(&b, "scale=w=%d:h=%d:flags=bicubic,setsar=1,format=yuv420p[v%d]", r.Width, r.Height, i)
	}
	return b.String()
}

// x264Args are the video encoder options of one rung: GOP fixed at the
// segment length and aligned by time, capped CRF (or bit rate).
func (t Tools) x264Args(r Rung, v Video) []string {
	fps := r.FrameRate
	if fps <= 0 {
		fps = v.FrameRate
	}
	seg := t.segment().Seconds()
	gop := 250
	if fps > 0 {
		gop = max(1, int(math.Round(fps*seg)))
	}
	args := []string{"-c:v", "libx264", "-preset", t.preset(), "-profile:v", "high"}
	if r.CRF > 0 {
		args = append(args, "-crf", strconv.Itoa(r.CRF))
	} else {
		args = append(args, "-b:v", strconv.Itoa(r.VideoBitrate))
	}
	if r.MaxRate > 0 {
		args = append(args, "-maxrate", strconv.Itoa(r.MaxRate), "-bufsize", strconv.Itoa(max(r.BufSize, r.MaxRate)))
	}
	args = append(args,
		"-g", strconv.Itoa(gop), "-keyint_min", strconv.Itoa(gop), "-sc_threshold", "0",
		"-force_key_frames", "expr:gte(t,n_forced*"+formatSeconds(t.segment())+")",
		"-flags", "+cgop")
	if v.HDR() { // tone-mapped: say so
		args = append(args, "-color_primaries", "bt709", "-color_trc", "bt709", "-colorspace", "bt709")
	}
	if t.Threads > 0 {
		args = append(args, "-threads", strconv.Itoa(t.Threads))
	}
	return args
}

// Publish runs a Plan: the copy first when there is one (playable within
// seconds), or the first rung alone when FirstAlone, then the remaining
// rungs in one run. After each rendition it rewrites dir/master.m3u8
// (atomically) and calls ready. A copy that fails to remux, or whose
// segments run longer than 3 × t.Segment (keyframes too far apart to start
// playing quickly), is dropped for the plan's Fallback ladder. It returns
// every rendition made; on error, those finished before it stay
// published.
func (t Tools) Publish(ctx context.Context, src, dir string, info Info, p Plan, ready func(Rendition)) ([]Rendition, error) {
	var all []Rendition
	var pubErr error
	publish := func(r Rendition) {
		all = append(all, r)
		if err := writeFileAtomic(filepath.Join(dir, MasterName), MasterPlaylist(all)); err != nil && pubErr == nil {
			pubErr = err
		}
		if ready != nil {
			ready(r)
		}
	}
	rungs, firstAlone := p.Rungs, p.FirstAlone
	if p.Copy {
		r, err := t.PackageCopy(ctx, src, dir, info)
		switch {
		case err == nil && r.LongestSegment <= 3*t.segment():
			publish(r)
		case err == nil || KindOf(err) == ErrFailed:
			if err == nil {
				err = fmt.Errorf("a %v segment: keyframes too far apart", r.LongestSegment.Round(time.Second))
				if rmErr := os.RemoveAll(filepath.Join(dir, CopyName)); rmErr != nil {
					return nil, fmt.Errorf("media: %w", rmErr)
				}
			}
			t.log().Info("media: copy unusable, encoding instead", "src", src, "why", err)
			rungs, firstAlone = p.Fallback, len(p.Fallback) > 1
		default:
			return nil, err
		}
	}
	if firstAlone && len(rungs) > 1 {
		// Nothing plays yet: the smallest rung alone comes first, fast.
		if _, err := t.EncodeLadder(ctx, src, dir, info, rungs[:1], publish); err != nil {
			return all, err
		}
		rungs = rungs[1:]
	}
	if pubErr != nil {
		return all, pubErr
	}
	if _, err := t.EncodeLadder(ctx, src, dir, info, rungs, publish); err != nil {
		return all, err
	}
	return all, pubErr
}

// mediaPlaylist is what readRendition needs from an index.m3u8.
type mediaPlaylist struct {
	initURI  string
	segments []segment
	ended    bool
}

type segment struct {
	uri string
	dur float64
}

func parseMediaPlaylist(data []byte) (mediaPlaylist, error) {
	var pl mediaPlaylist
	sc := bufio.NewScanner(bytes.NewReader(data))
	first := true
	dur := -1.0
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case first && line != "#EXTM3U":
			return pl, errors.New("not an M3U8 playlist")
		case strings.HasPrefix(line, "#EXT-X-MAP:"):
			_, uri, ok := strings.Cut(line, `URI="`)
			uri, _, ok2 := strings.Cut(uri, `"`)
			if !ok || !ok2 {
				return pl, errors.New("bad EXT-X-MAP")
			}
			pl.initURI = uri
		case strings.HasPrefix(line, "#EXTINF:"):
			v, _, _ := strings.Cut(strings.TrimPrefix(line, "#EXTINF:"), ",")
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < 0 {
				return pl, fmt.Errorf("bad EXTINF %q", line)
			}
			dur = f
		case line == "#EXT-X-ENDLIST":
			pl.ended = true
		case line != "" && !strings.HasPrefix(line, "#"):
			if dur < 0 {
				return pl, fmt.Errorf("segment %q without EXTINF", line)
			}
			pl.segments = append(pl.segments, segment{uri: line, dur: dur})
			dur = -1
		}
		first = false
	}
	if first {
		return pl, errors.New("empty playlist")
	}
	return pl, sc.Err()
}

// readRendition checks a rendition folder written by ffmpeg and measures
// it. want is the source duration: a result much shorter means the source
// could not be read to its end.
func readRendition(folder, name string, want time.Duration) (Rendition, error) {
	fail := func(format string, args ...any) (Rendition, error) {
		return Rendition{}, &Error{Kind: ErrFailed, Detail: name + ": " + fmt.Sprintf(format, args...)}
	}
	data, err := os.ReadFile(filepath.Join(folder, PlaylistName))
	if err != nil {
		return fail("%v", err)
	}
	pl, err := parseMediaPlaylist(data)
	switch {
	case err != nil:
		return fail("%v", err)
	case !pl.ended:
		return fail("playlist not finished")
	case pl.initURI == "" || !localName(pl.initURI):
		return fail("no init segment")
	case len(pl.segments) == 0:
		return Rendition{}, &Error{Kind: ErrCorrupt, Detail: name + ": no picture could be decoded"}
	}
	initData, err := os.ReadFile(filepath.Join(folder, pl.initURI))
	if err != nil {
		return fail("%v", err)
	}
	ii, err := parseInit(initData)
	if err != nil {
		return fail("%v", err)
	}
	var total, longest float64
	var bytesTotal int64
	peak := 0.0
	for _, s := range pl.segments {
		if !localName(s.uri) {
			return fail("segment %q outside its folder", s.uri)
		}
		st, err := os.Stat(filepath.Join(folder, s.uri))
		if err != nil {
			return fail("%v", err)
		}
		total += s.dur
		longest = max(longest, s.dur)
		bytesTotal += st.Size()
		if s.dur > 0 {
			peak = max(peak, float64(st.Size()*8)/s.dur)
		}
	}
	r := Rendition{
		Name: name, Playlist: name + "/" + PlaylistName,
		Width: ii.width, Height: ii.height, Codecs: ii.codecs(),
		Duration: time.Duration(total * float64(time.Second)), Segments: len(pl.segments),
		LongestSegment: time.Duration(longest * float64(time.Second)),
		Bandwidth:      int(math.Ceil(peak)),
	}
	if total > 0 {
		r.AverageBandwidth = int(math.Ceil(float64(bytesTotal*8) / total))
	}
	if want > 0 && r.Duration < want-max(2*time.Second, want/10) {
		return Rendition{}, newError(ErrCorrupt, "only %v of %v could be read", r.Duration.Round(100*time.Millisecond), want.Round(100*time.Millisecond))
	}
	return r, nil
}

// localName: a plain file name in the same folder.
func localName(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, `/\?#:`)
}

func absPaths(src, dir string) (string, string, error) {
	s, err := absPath(src)
	if err != nil {
		return "", "", err
	}
	d, err := absPath(dir)
	if err != nil {
		return "", "", err
	}
	return s, d, nil
}

// tempDir makes a hidden work folder inside dir (creating dir).
func tempDir(dir, name string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("media: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, "."+name+"-*.tmp")
	if err != nil {
		return "", fmt.Errorf("media: %w", err)
	}
	return tmp, nil
}

// install moves a finished folder or file into place, replacing what was
// there.
func install(from, to string) error {
	if err := os.RemoveAll(to); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if err := os.Rename(from, to); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	return nil
}

// writeFileAtomic writes through a temporary file and a rename, so readers
// see the old content or the new, never half of it.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+"-*.tmp")
	if err != nil {
		return fmt.Errorf("media: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("media: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("media: %w", err)
	}
	return nil
}

// formatSeconds prints a duration as ffmpeg seconds: "4", "2.5".
func formatSeconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}
