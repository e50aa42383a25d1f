// Command media measures the video pipeline of internal/share/media against
// bare ffmpeg on the same file, in one run:
//
//  1. time to playable: Probe + PackageCopy (the fast path) against a bare
//     `ffmpeg -c copy -f hls -hls_segment_type fmp4` of the same file;
//  2. ladder CPU: EncodeLadder (one ffmpeg run, one decode) against the
//     bare ffmpeg command with the same settings, and against one ffmpeg run
//     per rendition;
//  3. a source that is not H.264 (HEVC): Publish (the smallest rung alone,
//     then the rest in one run) against a single run of the whole ladder:
//     time until the first rendition plays, and what the extra decode costs.
//
// The sources are generated once and cached (in $TMPDIR/jnedu-bench-media
// unless -cache says otherwise): a 10-minute 720p30 H.264/AAC file and a
// 2-minute 720p30 HEVC/AAC file.
//
//	go run ./bench/media                  # the whole run (about 10 minutes on 2 cores)
//	go run ./bench/media -minutes 2       # a shorter source
//	go run ./bench/media -h               # every flag
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"jnedu/internal/share/media"

	"jnedu/bench/internal/procstat"
)

func main() {
	var (
		cache   = flag.String("cache", filepath.Join(os.TempDir(), "jnedu-bench-media"), "folder for the generated source (kept between runs)")
		minutes = flag.Int("minutes", 10, "length of the generated source")
		preset  = flag.String("preset", "veryfast", "libx264 preset of the ladder")
		threads = flag.Int("threads", 0, "ffmpeg threads (0: ffmpeg's choice)")
		runs    = flag.Int("runs", 3, "repetitions of the time-to-playable measure (the median is shown)")
		skip    = flag.Bool("skip-ladder", false, "measure only the time to playable")
		hevcMin = flag.Int("hevc-minutes", 2, "length of the HEVC source of part 3 (0 skips part 3)")
	)
	flag.Parse()
	log.SetFlags(0)
	ctx := context.Background()

	src, err := source(ctx, *cache, *minutes)
	if err != nil {
		log.Fatal(err)
	}
	work, err := os.MkdirTemp("", "jnedu-bench-media-run-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(work)

	var last media.RunStats
	tl := media.Tools{Preset: *preset, Threads: *threads, OnRun: func(s media.RunStats) { last = s }}
	if err := tl.Check(); err != nil {
		log.Fatal(err)
	}
	info, err := tl.Probe(ctx, src)
	if err != nil {
		log.Fatal(err)
	}
	st, _ := os.Stat(src)
	fmt.Printf("source: %s, %v, %dx%d %s %s %.2f fps, %.1f MB\n\n", filepath.Base(src), info.Duration.Round(time.Second),
		info.Video.Width, info.Video.Height, info.Video.Codec, info.Video.Profile, info.Video.FrameRate, float64(st.Size())/1e6)

	// 1. Time to playable.
	var ours, oursPkg, bare []time.Duration
	for i := range *runs {
		dir := filepath.Join(work, fmt.Sprintf("bare-%d", i))
		d, _, err := bareCopy(ctx, src, dir)
		if err != nil {
			log.Fatal(err)
		}
		bare = append(bare, d)

		dir = filepath.Join(work, fmt.Sprintf("ours-%d", i))
		start := time.Now()
		info, err := tl.Probe(ctx, src)
		if err != nil {
			log.Fatal(err)
		}
		pkgStart := time.Now()
		if _, err := tl.PackageCopy(ctx, src, dir, info); err != nil {
			log.Fatal(err)
		}
		oursPkg = append(oursPkg, time.Since(pkgStart))
		ours = append(ours, time.Since(start))
		os.RemoveAll(filepath.Join(work, fmt.Sprintf("bare-%d", i)))
		os.RemoveAll(dir)
	}
	mb, mo, mp := median(bare), median(ours), median(oursPkg)
	fmt.Println("1. time to playable (fast path, median of", *runs, "runs)")
	fmt.Printf("   bare ffmpeg -c copy -f hls (fMP4)   %7.2f s\n", mb.Seconds())
	fmt.Printf("   PackageCopy                         %7.2f s   %.2f× bare\n", mp.Seconds(), ratio(mp, mb))
	fmt.Printf("   Probe + PackageCopy                 %7.2f s   %.2f× bare   (aim: ≤ 1.5×, < 10 s: %s)\n\n",
		mo.Seconds(), ratio(mo, mb), verdict(ratio(mo, mb) <= 1.5 && mo < 10*time.Second))
	if *skip {
		return
	}

	// 2. Ladder CPU.
	plan := media.PlanFor(info, media.PlanOptions{})
	var names []string
	for _, r := range plan.Rungs {
		names = append(names, fmt.Sprintf("%s %dx%d", r.Name, r.Width, r.Height))
	}
	fmt.Printf("2. ladder CPU (%s, preset %s)\n", strings.Join(names, ", "), *preset)

	selfBefore := procstat.Self()
	start := time.Now()
	if _, err := tl.EncodeLadder(ctx, src, filepath.Join(work, "ladder"), info, plan.Rungs, nil); err != nil {
		log.Fatal(err)
	}
	oursWall, oursCPU, goCPU := time.Since(start), last.CPU(), procstat.Self()-selfBefore
	os.RemoveAll(filepath.Join(work, "ladder"))

	bareCmd := bareLadderArgs(src, plan.Rungs, info, *preset, *threads, tl.Segment)
	bareWall, bareCPU, err := runFFmpeg(ctx, filepath.Join(work, "bare-ladder"), bareCmd)
	if err != nil {
		log.Fatal(err)
	}
	os.RemoveAll(filepath.Join(work, "bare-ladder"))

	var sepWall, sepCPU time.Duration
	for _, r := range plan.Rungs {
		w, c, err := runFFmpeg(ctx, filepath.Join(work, "sep-"+r.Name), bareLadderArgs(src, []media.Rung{r}, info, *preset, *threads, tl.Segment))
		if err != nil {
			log.Fatal(err)
		}
		os.RemoveAll(filepath.Join(work, "sep-"+r.Name))
		sepWall += w
		sepCPU += c
	}
	fmt.Printf("   EncodeLadder (one run, one decode)  CPU %7.1f s (+ %.2f s in Go)   wall %6.1f s\n", oursCPU.Seconds(), goCPU.Seconds(), oursWall.Seconds())
	fmt.Printf("   bare ffmpeg, same command line      CPU %7.1f s                  wall %6.1f s\n", bareCPU.Seconds(), bareWall.Seconds())
	fmt.Printf("   one bare ffmpeg run per rendition   CPU %7.1f s                  wall %6.1f s\n", sepCPU.Seconds(), sepWall.Seconds())
	total := oursCPU + goCPU
	fmt.Printf("   EncodeLadder ÷ bare one-run         %.3f×   (aim ≤ 1.15×: %s)\n", ratio(total, bareCPU), verdict(ratio(total, bareCPU) <= 1.15))
	fmt.Printf("   EncodeLadder ÷ per-rendition runs   %.3f×   (must be < 1: %s)\n\n", ratio(total, sepCPU), verdict(total < sepCPU))

	if *hevcMin > 0 {
		if err := transcodePath(ctx, tl, *cache, work, *hevcMin); err != nil {
			log.Fatal(err)
		}
	}
}

// transcodePath is part 3: a non-H.264 source, first rung alone then the
// rest, against one run of the whole ladder.
func transcodePath(ctx context.Context, tl media.Tools, cache, work string, minutes int) error {
	src := filepath.Join(cache, fmt.Sprintf("src-720p30-hevc-aac-%dmin.mp4", minutes))
	if st, err := os.Stat(src); err != nil || st.Size() == 0 {
		secs := strconv.Itoa(minutes * 60)
		fmt.Printf("generating %s (once) ...\n", src)
		cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-y", "-v", "error",
			"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration="+secs,
			"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration="+secs,
			"-c:v", "libx265", "-preset", "ultrafast", "-x265-params", "log-level=error", "-tag:v", "hvc1",
			"-c:a", "aac", "-shortest", src+".tmp.mp4")
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("generate HEVC source: %w", err)
		}
		if err := os.Rename(src+".tmp.mp4", src); err != nil {
			return err
		}
	}
	info, err := tl.Probe(ctx, src)
	if err != nil {
		return err
	}
	plan := media.PlanFor(info, media.PlanOptions{})
	var cpu time.Duration
	tl.OnRun = func(s media.RunStats) { cpu += s.CPU() }

	start := time.Now()
	var first time.Duration
	if _, err := tl.Publish(ctx, src, filepath.Join(work, "publish"), info, plan, func(r media.Rendition) {
		if first == 0 {
			first = time.Since(start)
		}
	}); err != nil {
		return err
	}
	pubWall, pubCPU := time.Since(start), cpu
	os.RemoveAll(filepath.Join(work, "publish"))

	cpu = 0
	start = time.Now()
	if _, err := tl.EncodeLadder(ctx, src, filepath.Join(work, "onerun"), info, plan.Rungs, nil); err != nil {
		return err
	}
	oneWall, oneCPU := time.Since(start), cpu
	os.RemoveAll(filepath.Join(work, "onerun"))

	var names []string
	for _, r := range plan.Rungs {
		names = append(names, r.Name)
	}
	fmt.Printf("3. HEVC source (%v, %dx%d): %s, preset %s\n", info.Duration.Round(time.Second), info.Video.Width, info.Video.Height,
		strings.Join(names, ", "), tl.Preset)
	fmt.Printf("   Publish: %s alone, then the rest   first playable %6.1f s   all %6.1f s   CPU %6.1f s\n", names[0], first.Seconds(), pubWall.Seconds(), pubCPU.Seconds())
	fmt.Printf("   one run of the whole ladder         first playable %6.1f s   all %6.1f s   CPU %6.1f s\n", oneWall.Seconds(), oneWall.Seconds(), oneCPU.Seconds())
	fmt.Printf("   first playable %.2f× sooner; the extra decode costs %+.1f%% CPU\n", ratio(oneWall, first), 100*(ratio(pubCPU, oneCPU)-1))
	return nil
}

// source returns the cached generated video, making it first if needed.
func source(ctx context.Context, cache string, minutes int) (string, error) {
	if err := os.MkdirAll(cache, 0o755); err != nil {
		return "", err
	}
	out := filepath.Join(cache, fmt.Sprintf("src-720p30-h264-aac-%dmin.mp4", minutes))
	if st, err := os.Stat(out); err == nil && st.Size() > 0 {
		return out, nil
	}
	secs := strconv.Itoa(minutes * 60)
	fmt.Printf("generating %s (once) ...\n", out)
	tmp := out + ".tmp.mp4"
	cmd := exec.CommandContext(ctx, "ffmpeg", "-hide_banner", "-nostdin", "-y", "-v", "error",
		"-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:duration="+secs,
		"-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration="+secs,
		"-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-g", "60", "-pix_fmt", "yuv420p",
		"-c:a", "aac", "-b:a", "128k", "-movflags", "+faststart", "-shortest", tmp)
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("generate source: %w", err)
	}
	fmt.Printf("generated in %v\n", time.Since(start).Round(time.Second))
	return out, os.Rename(tmp, out)
}

// bareCopy is the reference fast path: ffmpeg alone.
func bareCopy(ctx context.Context, src, dir string) (time.Duration, time.Duration, error) {
	return runFFmpeg(ctx, dir, []string{"-i", src, "-map", "0:v:0", "-map", "0:a:0", "-c", "copy",
		"-f", "hls", "-hls_time", "4", "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
		"-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", "seg_%05d.m4s", "index.m3u8"})
}

// bareLadderArgs writes out by hand the command EncodeLadder runs for these
// rungs: one decode, split, scale, libx264 with aligned fixed GOPs, AAC,
// fMP4 HLS per rung.
func bareLadderArgs(src string, rungs []media.Rung, info media.Info, preset string, threads int, segment time.Duration) []string {
	if segment <= 0 {
		segment = 4 * time.Second
	}
	seg := strconv.FormatFloat(segment.Seconds(), 'f', -1, 64)
	gop := strconv.Itoa(int(info.Video.FrameRate*segment.Seconds() + 0.5))
	var args []string
	if threads > 0 {
		args = append(args, "-filter_complex_threads", strconv.Itoa(threads), "-threads", strconv.Itoa(threads))
	}
	args = append(args, "-i", src)
	graph := "[0:v:0]"
	if len(rungs) > 1 {
		graph += fmt.Sprintf("split=%d", len(rungs))
		for i := range rungs {
			graph += fmt.Sprintf("[s%d]", i)
		}
		for i, r := range rungs {
			graph += fmt.Sprintf(";[s%d]scale=w=%d:h=%d:flags=bicubic,setsar=1,format=yuv420p[v%d]", i, r.Width, r.Height, i)
		}
	} else {
		r := rungs[0]
		graph += fmt.Sprintf("scale=w=%d:h=%d:flags=bicubic,setsar=1,format=yuv420p[v0]", r.Width, r.Height)
	}
	args = append(args, "-filter_complex", graph)
	for i, r := range rungs {
		args = append(args, "-map", fmt.Sprintf("[v%d]", i), "-map", "0:a:0",
			"-c:v", "libx264", "-preset", preset, "-profile:v", "high", "-crf", strconv.Itoa(r.CRF),
			"-maxrate", strconv.Itoa(r.MaxRate), "-bufsize", strconv.Itoa(r.BufSize),
			"-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-force_key_frames", "expr:gte(t,n_forced*"+seg+")", "-flags", "+cgop")
		if threads > 0 {
			args = append(args, "-threads", strconv.Itoa(threads))
		}
		args = append(args, "-c:a", "aac", "-b:a", strconv.Itoa(r.AudioBitrate),
			"-f", "hls", "-hls_time", seg, "-hls_playlist_type", "vod", "-hls_segment_type", "fmp4",
			"-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", r.Name+"/seg_%05d.m4s", r.Name+"/index.m3u8")
	}
	return args
}

// runFFmpeg runs ffmpeg in dir (made, with a folder per "x/index.m3u8"
// output) and returns its wall and CPU time.
func runFFmpeg(ctx context.Context, dir string, args []string) (wall, cpu time.Duration, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, 0, err
	}
	for _, a := range args {
		if strings.HasSuffix(a, "/index.m3u8") {
			os.MkdirAll(filepath.Join(dir, filepath.Dir(a)), 0o755)
		}
	}
	cmd := exec.CommandContext(ctx, "ffmpeg", append([]string{"-hide_banner", "-nostdin", "-y", "-v", "error"}, args...)...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return 0, 0, fmt.Errorf("ffmpeg %s: %w", strings.Join(args, " "), err)
	}
	ps := cmd.ProcessState
	return time.Since(start), ps.UserTime() + ps.SystemTime(), nil
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func ratio(a, b time.Duration) float64 { return float64(a) / float64(b) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
