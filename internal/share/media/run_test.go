package media

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hangingFFmpeg writes a stand-in for ffmpeg that starts a child and hangs
// without a word of progress; the child's PID goes to pidFile.
func hangingFFmpeg(t *testing.T, dir, pidFile string) string {
	t.Helper()
	script := filepath.Join(dir, "ffmpeg-hangs")
	body := fmt.Sprintf("#!/bin/sh\nsleep 300 &\necho $! > '%s'\nwait\n", pidFile)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// gone reports whether pid has exited (a zombie counts as gone).
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	fields := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
	return len(fields) > 0 && fields[0] == "Z"
}

func waitGone(t *testing.T, pidFile string) {
	t.Helper()
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatalf("the stand-in never started its child: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	deadline := time.Now().Add(3 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Fatalf("child %d of the killed ffmpeg still runs: the process group was not killed", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNeverHangs: a stalled or slow ffmpeg is killed with its whole process
// group and reported as ErrTimeout; a cancelled context stops it too.
func TestNeverHangs(t *testing.T) {
	t.Parallel()
	info := Info{Duration: time.Hour, Video: Video{Codec: "hevc", Width: 640, Height: 360, DisplayWidth: 640, DisplayHeight: 360, FrameRate: 25}}
	rungs := PlanFor(info, PlanOptions{}).Rungs
	tests := []struct {
		name     string
		timeouts Timeouts
		cancel   time.Duration // cancel the context after this long (0: never)
		want     error
		detail   string
	}{
		{"no progress", Timeouts{Stall: 300 * time.Millisecond}, 0, ErrTimeout, "no progress"},
		{"over the time limit", Timeouts{Base: 300 * time.Millisecond, PerSecond: -1, Stall: time.Minute}, 0, ErrTimeout, "over the limit"},
		{"context cancelled", Timeouts{}, 300 * time.Millisecond, context.Canceled, "stopped"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			pidFile := filepath.Join(dir, "child.pid")
			tl := Tools{FFmpeg: hangingFFmpeg(t, dir, pidFile), Timeouts: tc.timeouts}
			ctx := context.Background()
			if tc.cancel > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
				time.AfterFunc(tc.cancel, cancel)
			}
			start := time.Now()
			out := filepath.Join(dir, "out")
			_, err := tl.EncodeLadder(ctx, filepath.Join(dir, "in.mp4"), out, info, rungs, nil)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.detail) {
				t.Fatalf("EncodeLadder = %v; want %v (%q)", err, tc.want, tc.detail)
			}
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v to give up", d)
			}
			waitGone(t, pidFile)
			if entries, _ := os.ReadDir(out); len(entries) != 0 {
				t.Errorf("left in the output folder: %v", entries)
			}
		})
	}
}

// TestCancelRealRun: cancelling a real ladder mid-way returns promptly with
// context.Canceled and leaves nothing half-written.
func TestCancelRealRun(t *testing.T) {
	t.Parallel()
	tl := testTools(t)
	dir := t.TempDir()
	src := fixture(t, dir, "src.mp4", append(pattern(1280, 720, "30", 10), "-c:v", "libx264", "-preset", "ultrafast", "-g", "300")...)
	info, err := tl.Probe(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tl.Preset = "medium"
	tl.OnProgress = func(p Progress) {
		if p.Done > 0 {
			cancel()
		}
	}
	out := filepath.Join(dir, "out")
	start := time.Now()
	_, err = tl.EncodeLadder(ctx, src, out, info, PlanFor(info, PlanOptions{NoCopy: true}).Rungs, nil)
	if !errors.Is(err, context.Canceled) || KindOf(err) != nil {
		t.Fatalf("EncodeLadder = %v; want context.Canceled", err)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("cancel took effect after %v", d)
	}
	if entries, _ := os.ReadDir(out); len(entries) != 0 {
		t.Errorf("left in the output folder: %v", entries)
	}
}

func TestMissingTools(t *testing.T) {
	t.Parallel()
	tl := Tools{FFmpeg: "/nonexistent/ffmpeg", FFprobe: "/nonexistent/ffprobe"}
	if err := tl.Check(); !errors.Is(err, ErrNoTools) {
		t.Errorf("Check = %v; want ErrNoTools", err)
	}
	f := filepath.Join(t.TempDir(), "x.mp4")
	os.WriteFile(f, []byte("data"), 0o644)
	if _, err := tl.Probe(context.Background(), f); !errors.Is(err, ErrNoTools) || Reason(err) != "no_tools" {
		t.Errorf("Probe = %v; want ErrNoTools", err)
	}
}
