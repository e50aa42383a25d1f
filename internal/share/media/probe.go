package media

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Info describes a media file, as ffprobe sees it.
type Info struct {
	Format     string        // ffprobe's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm"
	FormatLong string        // e.g. "QuickTime / MOV"
	Duration   time.Duration // of the whole file
	Size       int64         // bytes
	BitRate    int64         // overall, bits/s (0 when unknown)
	Video      Video
	Audio      *Audio // nil when the file has no sound
}

// Video is the picture stream Info describes (the first video stream that
// is not cover art).
type Video struct {
	Index   int    // stream index in the file
	Codec   string // ffprobe codec name: "h264", "hevc", "mpeg2video", "vp9", ...
	Profile string // e.g. "High", "Main", "Constrained Baseline"
	Level   int    // as ffprobe reports it (H.264: 31 means 3.1)
	Width   int    // coded picture size
	Height  int
	// DisplayWidth and DisplayHeight are the picture as people see it:
	// pixel aspect ratio applied, then the rotation.
	DisplayWidth  int
	DisplayHeight int
	// Rotation is how many degrees clockwise the picture must turn to be
	// upright (0, 90, 180, 270), from the display matrix (phones).
	Rotation   int
	FrameRate  float64 // frames per second (average); 0 when unknown
	BitRate    int64   // bits/s (0 when unknown)
	PixFmt     string  // e.g. "yuv420p", "yuv420p10le"
	FieldOrder string  // "progressive", "tt", "bb", ... ("" when unknown)
	SAR        string  // sample (pixel) aspect ratio, e.g. "1:1", "32:27"
	// Color transfer and primaries: "smpte2084" (PQ) or "arib-std-b67"
	// (HLG) mean HDR, which is tone-mapped when encoding.
	ColorTransfer  string
	ColorPrimaries string
}

// Audio is the sound stream Info describes (the default one, else the
// first).
type Audio struct {
	Index      int
	Codec      string // "aac", "mp3", "opus", "ac3", ...
	Profile    string // for AAC: "LC", "HE-AAC", ...
	Channels   int
	SampleRate int
	BitRate    int64
}

// Portrait reports whether the displayed picture is taller than wide.
func (v Video) Portrait() bool { return v.DisplayHeight > v.DisplayWidth }

// ShortSide is the shorter displayed side: what "720p" measures, in
// either orientation.
func (v Video) ShortSide() int { return min(v.DisplayWidth, v.DisplayHeight) }

// HDR reports whether the video uses a high-dynamic-range transfer.
func (v Video) HDR() bool {
	return v.ColorTransfer == "smpte2084" || v.ColorTransfer == "arib-std-b67"
}

// Interlaced reports whether the stream is marked as interlaced.
func (v Video) Interlaced() bool {
	switch v.FieldOrder {
	case "tt", "bb", "tb", "bt":
		return true
	}
	return false
}

// demuxers are the only container formats ffmpeg may open (the demuxer
// names, matched by component). Playlists (hls, concat), image sequences
// and other formats that read further files or URLs are excluded, so an
// uploaded file can never make ffmpeg open anything but itself.
const demuxers = "mov,matroska,webm,avi,mpeg,mpegts,flv,asf,ogg,mxf,dv,rm,nut,wtv,ivf,h264,hevc,m4v,mpegvideo," +
	"mp3,wav,aac,flac,amr,ape,w64,caf,wv"

// inputArgs are the arguments that open src for ffmpeg or ffprobe: only
// whitelisted demuxers, only the file protocol, the path as a file: URL so
// no part of a name is taken as an option, protocol or pattern.
func inputArgs(src string) []string {
	return []string{"-format_whitelist", demuxers, "-protocol_whitelist", "file", "-i", "file:" + src}
}

// absPath makes p absolute (ffmpeg runs in other working directories).
func absPath(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", fmt.Errorf("media: %w", err)
	}
	return abs, nil
}

// Probe inspects file and checks it against t.Limits. It returns an
// *Error of kind ErrEmpty, ErrNotMedia, ErrCorrupt, ErrNoVideo,
// ErrUnsupported, ErrTooLong, ErrTooShort, ErrTooLarge or ErrTooSmall for
// a file that cannot become a video; for the limit kinds the Info is
// returned too. A missing or unreadable file is an ordinary error.
func (t Tools) Probe(ctx context.Context, file string) (Info, error) {
	src, err := absPath(file)
	if err != nil {
		return Info{}, err
	}
	st, err := os.Stat(src)
	if err != nil {
		return Info{}, fmt.Errorf("media: probe: %w", err)
	}
	lim := t.Limits.withDefaults()
	switch {
	case !st.Mode().IsRegular():
		return Info{}, newError(ErrNotMedia, "not a regular file")
	case st.Size() == 0:
		return Info{}, newError(ErrEmpty, "0 bytes")
	case lim.MaxBytes > 0 && st.Size() > lim.MaxBytes:
		return Info{}, newError(ErrTooLarge, "%d bytes, over the limit of %d", st.Size(), lim.MaxBytes)
	}

	args := []string{"-hide_banner", "-v", "error", "-show_error", "-show_format", "-show_streams", "-print_format", "json"}
	res, err := t.run(ctx, job{
		step:    "probe",
		bin:     t.ffprobe(),
		args:    append(args, inputArgs(src)...),
		timeout: t.Timeouts.withDefaults().Probe,
	})
	if err != nil {
		if isCanceled(err) || KindOf(err) == ErrNoTools || KindOf(err) == ErrTimeout {
			return Info{}, err
		}
		return Info{}, probeFailure(src, res.stderr, err)
	}
	var out probeOutput
	if err := json.Unmarshal(res.stdout, &out); err != nil {
		return Info{}, &Error{Kind: ErrFailed, Detail: "ffprobe output", Err: err}
	}
	info, err := out.info(st.Size())
	if err != nil {
		return Info{}, err
	}
	if err := checkComplete(src, info.Format, st.Size()); err != nil {
		return Info{}, err
	}
	if info.Duration <= 0 {
		// No duration in the header (a browser's MediaRecorder WebM, a raw
		// stream): read the packets through once to measure it.
		if info.Duration, err = t.measureDuration(ctx, src, info); err != nil {
			return Info{}, err
		}
	}
	if info.BitRate == 0 && info.Duration > 0 {
		info.BitRate = int64(float64(info.Size*8) / info.Duration.Seconds())
	}
	return info, lim.check(info)
}

// probeFailure turns a failed ffprobe run into an *Error with a reason a
// person can act on.
// videoDemuxers are video formats ffprobe knows that jnedu does not accept.
var videoDemuxers = map[string]bool{
	"gif": true, "apng": true, "rawvideo": true, "yuv4mpegpipe": true, "vc1": true, "obu": true, "mjpeg": true,
	"mpjpeg": true, "bink": true, "smk": true, "flic": true, "cine": true, "r3d": true, "vmd": true, "avs": true,
}

// refusedDemuxer reads the demuxer name from ffprobe's whitelist refusal.
func refusedDemuxer(stderr string) string {
	i := strings.Index(stderr, "Format not on whitelist")
	if i < 0 {
		return ""
	}
	line := stderr[:i]
	if j := strings.LastIndexByte(line, '\n'); j >= 0 {
		line = line[j+1:]
	}
	start := strings.LastIndexByte(line, '[')
	if start < 0 {
		return ""
	}
	name, _, ok := strings.Cut(line[start+1:], " @")
	if !ok {
		return ""
	}
	return name
}

func probeFailure(src, stderr string, err error) error {
	var re *Error
	if errors.As(err, &re) && re.Err != nil {
		err = re.Err // the exit status: the kind is decided here, not by run
	}
	low := strings.ToLower(stderr)
	detail := lastLines(stderr, 3)
	switch {
	case strings.Contains(low, "moov atom not found") && startsLikeMP4(src):
		return &Error{Kind: ErrCorrupt, Detail: "the MP4 index (moov) is missing: the file was cut short", Err: err}
	case strings.Contains(low, "format not on whitelist"):
		if kind := sniff(src); kind != "" {
			return &Error{Kind: ErrNotMedia, Detail: "the content is " + kind, Err: err}
		}
		// ffprobe named what it found ("[lrc @ 0x…] Format not on
		// whitelist"): a picture or text format (or junk that happens to
		// look like one) is not a video; a real video format outside the
		// accepted list is unsupported.
		if name := refusedDemuxer(stderr); videoDemuxers[name] {
			return &Error{Kind: ErrUnsupported, Detail: "container format " + name + " not accepted", Err: err}
		}
		return &Error{Kind: ErrNotMedia, Detail: "not a video container (" + refusedDemuxer(stderr) + ")", Err: err}
	case strings.Contains(low, "invalid data found"), strings.Contains(low, "end of file"),
		strings.Contains(low, "moov atom not found"): // a .mp4 name on something else
		if kind := sniff(src); kind != "" {
			detail = "the content is " + kind
		}
		return &Error{Kind: ErrNotMedia, Detail: detail, Err: err}
	}
	return &Error{Kind: ErrFailed, Detail: "ffprobe: " + detail, Err: err}
}

// sniff names what the first bytes of a non-media file look like ("text",
// "image/png", ...), or "" when it cannot tell.
func sniff(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	buf := make([]byte, 512)
	n, _ := io.ReadFull(f, buf)
	ct := http.DetectContentType(buf[:n])
	ct, _, _ = strings.Cut(ct, ";")
	switch {
	case strings.HasPrefix(ct, "text/"):
		return "text"
	case strings.HasPrefix(ct, "image/"), ct == "application/pdf", ct == "application/zip",
		ct == "application/x-gzip", ct == "application/x-rar-compressed":
		return ct
	}
	return ""
}

// check returns an *Error for the first limit info exceeds.
func (l Limits) check(info Info) error {
	v := info.Video
	w, h := v.DisplayWidth, v.DisplayHeight
	switch {
	case l.MaxPixels > 0 && w*h > l.MaxPixels:
		return newError(ErrTooLarge, "%d×%d picture, over the limit of %d pixels", w, h, l.MaxPixels)
	case l.MaxSide > 0 && max(w, h) > l.MaxSide:
		return newError(ErrTooLarge, "%d×%d picture, a side over %d", w, h, l.MaxSide)
	case l.MinSide > 0 && min(w, h) < l.MinSide:
		return newError(ErrTooSmall, "%d×%d picture, a side under %d", w, h, l.MinSide)
	case l.MaxDuration > 0 && info.Duration > l.MaxDuration:
		return newError(ErrTooLong, "%v, over the limit of %v", info.Duration.Round(time.Second), l.MaxDuration)
	case l.MinDuration > 0 && info.Duration < l.MinDuration:
		return newError(ErrTooShort, "%v, under %v", info.Duration, l.MinDuration)
	}
	return nil
}

// measureDuration demuxes the video stream without decoding it.
func (t Tools) measureDuration(ctx context.Context, src string, info Info) (time.Duration, error) {
	args := []string{"-hide_banner", "-nostdin", "-v", "error", "-nostats", "-progress", "pipe:1", "-stats_period", "0.5"}
	args = append(args, inputArgs(src)...)
	args = append(args, "-map", fmt.Sprintf("0:%d", info.Video.Index), "-c", "copy", "-f", "null", "-")
	res, err := t.run(ctx, job{step: "measure", bin: t.ffmpeg(), args: args, timeout: t.Timeouts.withDefaults().Probe, progress: true})
	if err != nil {
		return 0, err
	}
	if res.last.Done <= 0 {
		return 0, newError(ErrCorrupt, "no timestamps: the duration cannot be measured")
	}
	return res.last.Done, nil
}

// probeOutput is ffprobe's JSON.
type probeOutput struct {
	Format struct {
		FormatName     string `json:"format_name"`
		FormatLongName string `json:"format_long_name"`
		Duration       string `json:"duration"`
		BitRate        string `json:"bit_rate"`
	} `json:"format"`
	Streams []probeStream `json:"streams"`
}

type probeStream struct {
	Index          int               `json:"index"`
	CodecType      string            `json:"codec_type"`
	CodecName      string            `json:"codec_name"`
	Profile        string            `json:"profile"`
	Level          int               `json:"level"`
	Width          int               `json:"width"`
	Height         int               `json:"height"`
	PixFmt         string            `json:"pix_fmt"`
	FieldOrder     string            `json:"field_order"`
	SAR            string            `json:"sample_aspect_ratio"`
	AvgFrameRate   string            `json:"avg_frame_rate"`
	RFrameRate     string            `json:"r_frame_rate"`
	BitRate        string            `json:"bit_rate"`
	Duration       string            `json:"duration"`
	Channels       int               `json:"channels"`
	SampleRate     string            `json:"sample_rate"`
	ColorTransfer  string            `json:"color_transfer"`
	ColorPrimaries string            `json:"color_primaries"`
	Disposition    map[string]int    `json:"disposition"`
	Tags           map[string]string `json:"tags"`
	SideData       []map[string]any  `json:"side_data_list"`
}

// info picks the streams and checks that they make a video.
func (o probeOutput) info(size int64) (Info, error) {
	info := Info{
		Format:     o.Format.FormatName,
		FormatLong: o.Format.FormatLongName,
		Duration:   seconds(o.Format.Duration),
		Size:       size,
	}
	info.BitRate, _ = strconv.ParseInt(o.Format.BitRate, 10, 64)

	var video, audio *probeStream
	for i := range o.Streams {
		s := &o.Streams[i]
		switch s.CodecType {
		case "video":
			if video == nil && s.Disposition["attached_pic"] == 0 && s.Disposition["timed_thumbnails"] == 0 {
				video = s
			}
		case "audio":
			if audio == nil || (s.Disposition["default"] == 1 && audio.Disposition["default"] == 0) {
				audio = s
			}
		}
	}
	if audio != nil {
		a := &Audio{Index: audio.Index, Codec: audio.CodecName, Profile: audio.Profile, Channels: audio.Channels}
		a.SampleRate, _ = strconv.Atoi(audio.SampleRate)
		a.BitRate, _ = strconv.ParseInt(audio.BitRate, 10, 64)
		info.Audio = a
	}
	switch {
	case video == nil && audio != nil:
		return info, newError(ErrNoVideo, "%s with %s sound only", info.Format, audio.CodecName)
	case video == nil:
		return info, newError(ErrNotMedia, "%s without sound or picture", info.Format)
	case video.CodecName == "" || video.CodecName == "none" || video.CodecName == "unknown":
		return info, newError(ErrUnsupported, "unknown video codec in %s", info.Format)
	case video.Width <= 0 || video.Height <= 0:
		return info, newError(ErrCorrupt, "%s video without a picture size", video.CodecName)
	}
	if info.Duration <= 0 {
		info.Duration = seconds(video.Duration)
	}

	v := Video{
		Index: video.Index, Codec: video.CodecName, Profile: video.Profile, Level: video.Level,
		Width: video.Width, Height: video.Height, PixFmt: video.PixFmt, FieldOrder: video.FieldOrder,
		SAR: video.SAR, ColorTransfer: video.ColorTransfer, ColorPrimaries: video.ColorPrimaries,
	}
	v.BitRate, _ = strconv.ParseInt(video.BitRate, 10, 64)
	v.FrameRate = rate(video.AvgFrameRate)
	if v.FrameRate == 0 {
		v.FrameRate = rate(video.RFrameRate)
	}
	if v.FrameRate > 1000 { // a time base, not a frame rate
		v.FrameRate = 0
	}
	v.Rotation = rotation(*video)
	v.DisplayWidth, v.DisplayHeight = v.Width, v.Height
	if n, d, ok := ratio(v.SAR); ok && n != d {
		v.DisplayWidth = even(float64(v.Width) * float64(n) / float64(d))
	}
	if v.Rotation == 90 || v.Rotation == 270 {
		v.DisplayWidth, v.DisplayHeight = v.DisplayHeight, v.DisplayWidth
	}
	info.Video = v
	return info, nil
}

// rotation reads the display matrix (or the old "rotate" tag) as the
// clockwise turn ffmpeg applies when it rotates the picture upright.
func rotation(s probeStream) int {
	deg := 0.0
	found := false
	for _, sd := range s.SideData {
		if r, ok := sd["rotation"].(float64); ok {
			deg, found = -r, true // the matrix angle is counter-clockwise
			break
		}
	}
	if !found {
		if r, err := strconv.ParseFloat(s.Tags["rotate"], 64); err == nil {
			deg = r
		}
	}
	d := int(math.Round(deg/90)) * 90 % 360
	if d < 0 {
		d += 360
	}
	return d
}

// seconds parses ffprobe's "12.345000"; "N/A" and garbage are 0.
func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}

// rate parses "30000/1001"; 0 when unknown.
func rate(s string) float64 {
	n, d, ok := ratio(strings.Replace(s, "/", ":", 1))
	if !ok {
		return 0
	}
	return float64(n) / float64(d)
}

// ratio parses "n:d" with both positive.
func ratio(s string) (n, d int64, ok bool) {
	a, b, found := strings.Cut(s, ":")
	if !found {
		return 0, 0, false
	}
	n, err1 := strconv.ParseInt(a, 10, 64)
	d, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || n <= 0 || d <= 0 {
		return 0, 0, false
	}
	return n, d, true
}

// even rounds to the nearest even integer, at least 2.
func even(f float64) int {
	return max(2, 2*int(math.Round(f/2)))
}
