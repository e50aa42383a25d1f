package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"jnedu/internal/identity"
	"jnedu/internal/insight"
)

func cmdInsight(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	const usage = "usage: jnedu insight recompute [-from YYYY-MM-DD] [-to YYYY-MM-DD]"
	if len(args) == 0 || args[0] != "recompute" {
		return errors.New(usage)
	}
	fs, cf := flags("insight recompute", stderr)
	from := fs.String("from", "", "first day (China time) of the records to count again, by the time they were stored; default: all")
	to := fs.String("to", "", "last day (China time) of the records to count again; default: up to now")
	a, err := loadApp(ctx, fs, cf, args[1:], getenv, true)
	if err != nil {
		return err
	}
	defer a.DB.Close()
	since, until, err := recomputeRange(*from, *to)
	if err != nil {
		return err
	}
	rep, err := a.Insight.Recompute(ctx, insightSource{a.LRS}, since, until, func(r insight.RecomputeReport) {
		if r.Statements%10000 == 0 {
			fmt.Fprintf(stderr, "... %d statements\n", r.Statements)
		}
	})
	if err != nil {
		return err
	}
	if err := refreshInsightRoster(ctx, a, nil); err != nil {
		return err
	}
	a.Identity.Record(ctx, nil, identity.AuditEntry{ActorName: "cli", Action: "cli insight recompute", //nolint:errcheck
		Detail: fmt.Sprintf("from=%s to=%s statements=%d", *from, *to, rep.Statements), Result: identity.ResultOK})
	fmt.Fprintf(stdout, "recomputed: %d statements counted, %d taken back, %d ms\n", rep.Statements, rep.TakenBack, rep.Millis)
	return nil
}

// recomputeRange turns two days into the (since, until] stored range in
// Unix ms (0, 0: everything).
func recomputeRange(from, to string) (since, until int64, err error) {
	cst := time.FixedZone("CST", 8*3600)
	if from != "" {
		t, err := time.ParseInLocation("2006-01-02", from, cst)
		if err != nil {
			return 0, 0, fmt.Errorf("-from: %w", err)
		}
		since = t.UnixMilli() - 1
	}
	if to != "" {
		t, err := time.ParseInLocation("2006-01-02", to, cst)
		if err != nil {
			return 0, 0, fmt.Errorf("-to: %w", err)
		}
		until = t.AddDate(0, 0, 1).UnixMilli() - 1
	}
	if until != 0 && since >= until {
		return 0, 0, errors.New("-from must not be after -to")
	}
	if from != "" && to == "" {
		until = time.Now().UnixMilli() + 1
	}
	return since, until, nil
}
