package media

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPlanFor(t *testing.T) {
	t.Parallel()
	mp4 := "mov,mp4,m4a,3gp,3g2,mj2"
	aac := &Audio{Codec: "aac", Profile: "LC", Channels: 2, SampleRate: 48000}
	h264 := func(w, h int) Video {
		return Video{Codec: "h264", Profile: "High", Level: 40, Width: w, Height: h, DisplayWidth: w, DisplayHeight: h,
			PixFmt: "yuv420p", FieldOrder: "progressive", FrameRate: 30, SAR: "1:1"}
	}
	with := func(v Video, f func(*Video)) Video { f(&v); return v }
	tests := []struct {
		name       string
		info       Info
		copyV      bool
		copyA      bool
		why        string // part of Plan.Why
		rungs      string // "name:WxH ..." in order
		firstAlone bool
	}{
		{"H.264/AAC 1080p: copy + three rungs below", Info{Format: mp4, Video: h264(1920, 1080), Audio: aac},
			true, true, "", "360p:640x360 540p:960x540 720p:1280x720", false},
		{"H.264 480p: no 720p rung (never upscaled)", Info{Format: mp4, Video: h264(854, 480), Audio: aac},
			true, true, "", "360p:640x360", false},
		{"H.264 360p: the copy alone", Info{Format: mp4, Video: h264(640, 360), Audio: aac},
			true, true, "", "", false},
		{"H.264 + MP3: video copied, sound encoded", Info{Format: "matroska,webm", Video: h264(1280, 720), Audio: &Audio{Codec: "mp3", Channels: 2, SampleRate: 44100}},
			true, false, "", "360p:640x360 540p:960x540", false},
		{"H.264 + HE-AAC 5.1: sound encoded", Info{Format: mp4, Video: h264(1280, 720), Audio: &Audio{Codec: "aac", Profile: "HE-AAC", Channels: 6, SampleRate: 48000}},
			true, false, "", "360p:640x360 540p:960x540", false},
		{"HEVC 4K: four rungs, the first alone", Info{Format: mp4, Video: with(h264(3840, 2160), func(v *Video) { v.Codec = "hevc"; v.Profile = "Main 10"; v.PixFmt = "yuv420p10le" }), Audio: aac},
			false, false, "hevc", "360p:640x360 540p:960x540 720p:1280x720 1080p:1920x1080", true},
		{"HEVC portrait phone video: by the short side", Info{Format: mp4, Video: with(h264(1080, 1920), func(v *Video) { v.Codec = "hevc" }), Audio: aac},
			false, false, "hevc", "360p:360x640 540p:540x960 720p:720x1280 1080p:1080x1920", true},
		{"rotated H.264: encoded upright", Info{Format: mp4, Video: with(h264(1920, 1080), func(v *Video) { v.Rotation = 90; v.DisplayWidth, v.DisplayHeight = 1080, 1920 }), Audio: aac},
			false, false, "rotated", "360p:360x640 540p:540x960 720p:720x1280 1080p:1080x1920", true},
		{"H.264 High 10", Info{Format: mp4, Video: with(h264(1280, 720), func(v *Video) { v.PixFmt = "yuv420p10le"; v.Profile = "High 10" }), Audio: aac},
			false, false, "pixel format", "360p:640x360 540p:960x540 720p:1280x720", true},
		{"interlaced H.264", Info{Format: "mpegts", Video: with(h264(1920, 1080), func(v *Video) { v.FieldOrder = "tt" })},
			false, false, "interlaced", "360p:640x360 540p:960x540 720p:1280x720 1080p:1920x1080", true},
		{"H.264 in AVI", Info{Format: "avi", Video: h264(1280, 720), Audio: aac},
			false, false, "container", "360p:640x360 540p:960x540 720p:1280x720", true},
		{"120 fps slow motion", Info{Format: mp4, Video: with(h264(1280, 720), func(v *Video) { v.FrameRate = 120 }), Audio: aac},
			false, false, "fps", "360p:640x360 540p:960x540 720p:1280x720", true},
		{"MPEG-2 DVD 16:9: 360p and its own 480p", Info{Format: "mpeg", Video: Video{Codec: "mpeg2video", Width: 720, Height: 480, DisplayWidth: 854, DisplayHeight: 480, SAR: "32:27", PixFmt: "yuv420p", FrameRate: 29.97}},
			false, false, "mpeg2video", "360p:640x360 480p:854x480", true},
		{"VP9 240p: one rung at its size", Info{Format: "matroska,webm", Video: Video{Codec: "vp9", Width: 320, Height: 240, DisplayWidth: 320, DisplayHeight: 240, PixFmt: "yuv420p", FrameRate: 25}},
			false, false, "vp9", "240p:320x240", false},
		{"odd 601×337 source: even sizes", Info{Format: "avi", Video: Video{Codec: "mpeg4", Width: 601, Height: 337, DisplayWidth: 601, DisplayHeight: 337, FrameRate: 25}},
			false, false, "mpeg4", "336p:600x336", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.info.Duration = time.Minute
			p := PlanFor(tc.info, PlanOptions{})
			if p.Copy != tc.copyV || p.CopyAudio != tc.copyA || !strings.Contains(p.Why, tc.why) || (tc.why == "") != (p.Why == "") {
				t.Errorf("copy %v/%v why %q; want %v/%v why ~%q", p.Copy, p.CopyAudio, p.Why, tc.copyV, tc.copyA, tc.why)
			}
			var got []string
			prev := 0
			for _, r := range p.Rungs {
				got = append(got, fmt.Sprintf("%s:%dx%d", r.Name, r.Width, r.Height))
				if r.Width%2 != 0 || r.Height%2 != 0 {
					t.Errorf("%s: odd size %d×%d", r.Name, r.Width, r.Height)
				}
				if r.Width > tc.info.Video.DisplayWidth || r.Height > tc.info.Video.DisplayHeight {
					t.Errorf("%s: %d×%d upscales %d×%d", r.Name, r.Width, r.Height, tc.info.Video.DisplayWidth, tc.info.Video.DisplayHeight)
				}
				if r.VideoBitrate <= prev || r.MaxRate < r.VideoBitrate || r.BufSize < r.MaxRate || r.CRF != 23 {
					t.Errorf("%s: bit rate %d (after %d), max %d, buffer %d, crf %d", r.Name, r.VideoBitrate, prev, r.MaxRate, r.BufSize, r.CRF)
				}
				if (tc.info.Audio != nil) != (r.AudioBitrate > 0) {
					t.Errorf("%s: audio bit rate %d with audio %v", r.Name, r.AudioBitrate, tc.info.Audio)
				}
				prev = r.VideoBitrate
			}
			if g := strings.Join(got, " "); g != tc.rungs {
				t.Errorf("rungs %q; want %q", g, tc.rungs)
			}
			if p.FirstAlone != tc.firstAlone {
				t.Errorf("FirstAlone %v; want %v", p.FirstAlone, tc.firstAlone)
			}
		})
	}
}

func TestPlanOptions(t *testing.T) {
	t.Parallel()
	info := Info{Format: "mov,mp4", Video: Video{Codec: "h264", Profile: "High", Width: 1280, Height: 720, DisplayWidth: 1280, DisplayHeight: 720,
		PixFmt: "yuv420p", FrameRate: 240}}
	p := PlanFor(info, PlanOptions{Sizes: []int{720, 360, 360}, CRF: -1, MaxFrameRate: 50, NoCopy: true})
	if len(p.Rungs) != 2 || p.Rungs[0].Name != "360p" || p.Rungs[1].Name != "720p" {
		t.Fatalf("rungs %+v; want 360p, 720p", p.Rungs)
	}
	for _, r := range p.Rungs {
		if r.CRF != 0 || r.FrameRate != 48 {
			t.Errorf("%s: crf %d, %v fps; want bit-rate mode at 48 fps (240/5)", r.Name, r.CRF, r.FrameRate)
		}
	}
}

func TestOutFrameRate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, max, want float64 }{
		{30, 60, 30}, {60, 60, 60}, {59.94, 60, 59.94}, {120, 60, 60}, {240, 60, 60}, {100, 60, 50}, {90, 60, 45}, {0, 60, 0},
	} {
		if got := outFrameRate(tc.in, tc.max); got != tc.want {
			t.Errorf("outFrameRate(%v, %v) = %v; want %v", tc.in, tc.max, got, tc.want)
		}
	}
}
