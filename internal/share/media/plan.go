package media

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// PlanOptions tune PlanFor. The zero value is the default ladder.
type PlanOptions struct {
	// Sizes are the ladder's short sides (what "720p" measures, the width
	// of a portrait video). Default 360, 540, 720, 1080. Sizes above the
	// source are dropped: nothing is ever upscaled.
	Sizes []int
	// CRF is libx264's constant rate factor, capped by each rung's MaxRate
	// ("capped CRF": lectures and slides come out far smaller than a fixed
	// bit rate would make them). Default 23; negative encodes at the
	// rungs' VideoBitrate instead.
	CRF int
	// MaxFrameRate caps the output frame rate (a 240 fps slow-motion clip
	// becomes 60). Default 60.
	MaxFrameRate float64
	// NoCopy switches the fast path off: everything is encoded.
	NoCopy bool
}

// Rung is one rendition to encode.
type Rung struct {
	Name          string  // folder and label: "360p", "720p", ...
	Width, Height int     // output picture, even, upright (portrait stays portrait)
	VideoBitrate  int     // bits/s: the target with CRF < 0, a nominal figure otherwise
	MaxRate       int     // bits/s: the VBV cap
	BufSize       int     // bits: the VBV buffer
	AudioBitrate  int     // bits/s of the AAC sound
	CRF           int     // > 0: capped CRF; 0: bit-rate mode
	FrameRate     float64 // output frames per second; 0 keeps the source's timing
}

// Plan says how a video becomes HLS.
type Plan struct {
	// Copy: the source's H.264 is packaged as it is (PackageCopy), so it
	// plays within seconds; Rungs then holds only sizes below the source.
	Copy bool
	// CopyAudio: the sound is copied as well; false means it is encoded to
	// AAC (or there is none).
	CopyAudio bool
	// Why is the reason Copy is false (for logs), "" when it is true.
	Why string
	// Rungs are the renditions to encode, smallest first.
	Rungs []Rung
	// FirstAlone: there is no copy to play, so Rungs[0] is encoded on its
	// own first and published as soon as it is done, then the others in one
	// run (see Tools.Publish).
	FirstAlone bool
	// Fallback is the full ladder (top rung included, FirstAlone style) to
	// encode instead when Copy is true but the copy turns out unusable:
	// ffmpeg cannot remux it, or its keyframes are so far apart that the
	// segments would be huge (screen recordings). Empty when Copy is false.
	Fallback []Rung
}

// ladderPoints are the default ladder: short side → video bits/s at ≤ 30 fps.
func ladderPoints() [4]struct{ size, bps int } {
	return [4]struct{ size, bps int }{{360, 800_000}, {540, 1_500_000}, {720, 2_500_000}, {1080, 4_500_000}}
}

// PlanFor decides the fast path and the ladder for a probed video.
func PlanFor(info Info, opt PlanOptions) Plan {
	sizes := slices.Clone(opt.Sizes)
	if len(sizes) == 0 {
		for _, p := range ladderPoints() {
			sizes = append(sizes, p.size)
		}
	}
	slices.Sort(sizes)
	sizes = slices.Compact(sizes)
	crf := pick(opt.CRF, 23)
	maxFPS := pick(opt.MaxFrameRate, 60)

	var p Plan
	p.Why = copyBlocker(info, maxFPS)
	if opt.NoCopy && p.Why == "" {
		p.Why = "copy switched off"
	}
	p.Copy = p.Why == ""
	p.CopyAudio = p.Copy && audioCopyable(info.Audio)

	full := ladder(info, sizes, crf, maxFPS, false)
	if p.Copy {
		p.Rungs = ladder(info, sizes, crf, maxFPS, true)
		p.Fallback = full
	} else {
		p.Rungs = full
		p.FirstAlone = len(p.Rungs) > 1
	}
	return p
}

// ladder lists the rungs for info: the sizes not above the source (below
// it when belowCopy: the copy stands for the top), and without a copy the
// source's own size on top when it sits well above the last standard size
// (a 480p DVD gets 360p and 480p).
func ladder(info Info, sizes []int, crf int, maxFPS float64, belowCopy bool) []Rung {
	v := info.Video
	short := v.ShortSide()
	fps := outFrameRate(v.FrameRate, maxFPS)
	var rungs []Rung
	for _, s := range sizes {
		switch {
		case s <= 0 || s > short:
			continue // never upscale
		case belowCopy && float64(s) >= 0.9*float64(short):
			continue // the copied source stands for this size
		}
		rungs = append(rungs, makeRung(v, s, fps, crf, info.Audio != nil))
	}
	if !belowCopy {
		top := short
		if len(sizes) > 0 {
			top = min(short, sizes[len(sizes)-1])
		}
		if n := len(rungs); n == 0 || float64(top) > 1.15*float64(shortOf(rungs[n-1])) {
			rungs = append(rungs, makeRung(v, top, fps, crf, info.Audio != nil))
		}
	}
	return rungs
}

// copyBlocker says why the source cannot be packaged as it is, "" if it can.
func copyBlocker(info Info, maxFPS float64) string {
	v := info.Video
	switch {
	case v.Codec != "h264":
		return "video is " + v.Codec + ", not H.264"
	case v.PixFmt != "yuv420p" && v.PixFmt != "yuvj420p":
		return "pixel format " + v.PixFmt + " does not play in browsers"
	case !slices.Contains([]string{"Constrained Baseline", "Baseline", "Main", "High"}, v.Profile):
		return "H.264 profile " + v.Profile + " does not play in browsers"
	case v.Level > 52:
		return fmt.Sprintf("H.264 level %d is above 5.2", v.Level)
	case v.Rotation != 0:
		// Browsers (MSE) ignore the display matrix: the picture must be
		// turned, which means encoding.
		return fmt.Sprintf("rotated %d°", v.Rotation)
	case v.Interlaced():
		return "interlaced"
	case v.DisplayWidth != v.Width:
		return "non-square pixels (" + v.SAR + ")"
	case maxFPS > 0 && v.FrameRate > maxFPS+0.01:
		return fmt.Sprintf("%.0f fps", v.FrameRate)
	case !copyContainer(info.Format):
		return "container " + info.Format + " keeps no reliable timestamps"
	}
	return ""
}

// copyContainer: formats whose H.264 timestamps survive a copy into fMP4
// (AVI, MPEG-PS and ASF lack reliable presentation timestamps for
// B-frames).
func copyContainer(format string) bool {
	for _, f := range []string{"mov,", "matroska", "mpegts", "flv"} {
		if strings.HasPrefix(format, f) {
			return true
		}
	}
	return false
}

// audioCopyable: AAC-LC plays everywhere (MSE, Safari) in fMP4; the rest is
// encoded to AAC.
func audioCopyable(a *Audio) bool {
	return a != nil && a.Codec == "aac" && a.Profile == "LC" && a.Channels >= 1 && a.Channels <= 2 &&
		a.SampleRate >= 16000 && a.SampleRate <= 48000
}

// outFrameRate keeps fps unless it exceeds maxFPS, then divides it by the
// smallest whole number that brings it under (120 → 60, 100 → 50).
func outFrameRate(fps, maxFPS float64) float64 {
	if fps <= 0 || maxFPS <= 0 || fps <= maxFPS+0.01 {
		return fps
	}
	return fps / math.Ceil(fps/maxFPS-0.001)
}

// makeRung sizes a rung of short side s for v's displayed aspect.
func makeRung(v Video, s int, fps float64, crf int, audio bool) Rung {
	dw, dh := v.DisplayWidth, v.DisplayHeight
	var w, h int
	switch {
	case s >= v.ShortSide():
		w, h = even(float64(dw)), even(float64(dh))
		w, h = min(w, dw&^1), min(h, dh&^1)
	case v.Portrait():
		w, h = even(float64(s)), even(float64(s)*float64(dh)/float64(dw))
	default:
		w, h = even(float64(s)*float64(dw)/float64(dh)), even(float64(s))
	}
	bps := ladderBitrate(s)
	if fps > 40 {
		bps = bps * 3 / 2
	}
	r := Rung{
		Name: fmt.Sprintf("%dp", min(w, h)), Width: w, Height: h,
		VideoBitrate: bps, MaxRate: bps * 3 / 2, BufSize: bps * 2,
		FrameRate: fps,
	}
	if crf > 0 {
		r.CRF = crf
	}
	if audio {
		r.AudioBitrate = 128_000
		if s <= 360 {
			r.AudioBitrate = 96_000
		}
	}
	return r
}

// ladderBitrate interpolates the ladder points by pixel count.
func ladderBitrate(s int) int {
	pts := ladderPoints()
	area := func(x int) float64 { return float64(x) * float64(x) }
	var bps float64
	switch {
	case s <= pts[0].size:
		bps = float64(pts[0].bps) * area(s) / area(pts[0].size)
	case s >= pts[len(pts)-1].size:
		last := pts[len(pts)-1]
		bps = float64(last.bps) * area(s) / area(last.size)
	default:
		for i := 1; i < len(pts); i++ {
			if s <= pts[i].size {
				a, b := pts[i-1], pts[i]
				f := (area(s) - area(a.size)) / (area(b.size) - area(a.size))
				bps = float64(a.bps) + f*float64(b.bps-a.bps)
				break
			}
		}
	}
	return max(150_000, int(math.Round(bps/10_000))*10_000)
}

// shortOf is a rung's short side.
func shortOf(r Rung) int { return min(r.Width, r.Height) }
