package procstat

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestReadsARealProcess: a child that burns CPU for a while shows CPU time
// and resident memory; this process's own CPU time grows as it works.
func TestReadsARealProcess(t *testing.T) {
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	deadline := time.Now().Add(10 * time.Second)
	var cpu time.Duration
	for cpu == 0 && time.Now().Before(deadline) {
		var err error
		if cpu, err = CPU(cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if cpu <= 0 {
		t.Errorf("CPU of a busy child: %v", cpu)
	}
	hwm, rss, err := Mem(cmd.Process.Pid)
	if err != nil || rss <= 0 || hwm < rss {
		t.Errorf("Mem = %d, %d, %v; want 0 < rss <= hwm", hwm, rss, err)
	}
	if _, err := CPU(1 << 30); err == nil {
		t.Error("CPU of no process: no error")
	}
	before := Self()
	x := 0
	for i := range 50_000_000 {
		x += i % 7
	}
	if Self() <= before || x == 0 {
		t.Errorf("own CPU time did not grow: %v then %v", before, Self())
	}
	if la := LoadAvg(); len(strings.Fields(la)) != 3 {
		t.Errorf("LoadAvg = %q", la)
	}
}
