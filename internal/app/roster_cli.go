package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"jnedu/internal/identity"
	"jnedu/internal/platform/tabular"
	"jnedu/internal/platform/web"
	"jnedu/internal/roster"
)

// cmdRoster is "jnedu roster import": the same import as the pages, run
// by the operator (over every school), all rows or none, audited.
func cmdRoster(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	const usage = "usage: jnedu roster import [-dry-run] [-format auto|csv|oneroster] [-source NAME] [-school-year 2025-2026] FILE"
	if len(args) == 0 || args[0] != "import" {
		return errors.New(usage)
	}
	fs, cf := flags("roster import", stderr)
	dry := fs.Bool("dry-run", false, "check every row and report, write nothing")
	format := fs.String("format", "auto", "auto, csv (Chinese CSV/XLSX) or oneroster (OneRoster 1.2 CSV zip)")
	source := fs.String("source", "", "source name the records are keyed under (default: csv or oneroster)")
	year := fs.String("school-year", "", "school year of spreadsheet classes without a 学年 column (default: the current one)")
	a, err := loadApp(ctx, fs, cf, args[1:], getenv, true)
	if err != nil {
		return err
	}
	defer a.DB.Close()
	if fs.NArg() != 1 {
		return errors.New(usage)
	}
	path := fs.Arg(0)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	lang := web.LangEN
	if strings.HasPrefix(getenv("LANG"), "zh") {
		lang = web.LangZH
	}
	tr, err := web.NewTranslator(web.Messages(), identity.Messages(), roster.Messages(), systemMessages())
	if err != nil {
		return err
	}
	rep, err := a.Roster.Import(ctx, nil, f, path, roster.ImportOptions{Format: *format, Source: *source, SchoolYear: *year, DryRun: *dry,
		Limits: tabular.Limits{MaxBytes: a.Cfg.MaxImportBytes, MaxRows: a.Cfg.MaxImportRows},
		T:      func(key string, args ...any) string { return tr.T(lang, key, args...) }})
	result := identity.ResultOK
	detail := fmt.Sprintf("format=%s dry_run=%v", *format, *dry)
	if rep != nil {
		detail = fmt.Sprintf("format=%s source=%s rows=%d invalid=%d dry_run=%v applied=%v classes=%+v students=%+v teachers=%+v enrolments=%+v",
			rep.Format, rep.Source, rep.Rows, rep.Invalid, rep.DryRun, rep.Applied, rep.Classes, rep.Students, rep.Teachers, rep.Enrolments)
	}
	if err != nil || (rep != nil && rep.Invalid > 0) {
		result = identity.ResultFailed
	}
	if aerr := a.Identity.Record(ctx, nil, identity.AuditEntry{ActorName: "cli", Action: "cli roster import", Target: "roster-import:" + path,
		Detail: detail, Result: result}); aerr != nil {
		return aerr
	}
	if err != nil {
		return err
	}
	if len(rep.Files) > 0 {
		fmt.Fprintf(stdout, "files: %s\n", strings.Join(rep.Files, ", "))
	}
	fmt.Fprintln(stdout, tr.T(lang, "roster.summary", rep.Rows, rep.Invalid))
	if len(rep.Problems) > 0 {
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FILE\tLINE\tFIELD\tPROBLEM")
		for _, p := range rep.Problems {
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", p.File, p.Line, p.Field, p.Message)
		}
		tw.Flush()
		if rep.More > 0 {
			fmt.Fprintln(stdout, tr.T(lang, "roster.more_problems", rep.More))
		}
		return fmt.Errorf("%d rows have problems; nothing was written", rep.Invalid)
	}
	fmt.Fprintln(stdout, tr.T(lang, "roster.counts", rep.Classes.Created, rep.Classes.Updated, rep.Classes.Deleted,
		rep.Students.Created, rep.Students.Updated, rep.Students.Deleted, rep.Teachers.Created, rep.Teachers.Updated, rep.Teachers.Deleted,
		rep.Enrolments.Created, rep.Enrolments.Updated, rep.Enrolments.Deleted))
	if rep.Applied {
		fmt.Fprintln(stdout, tr.T(lang, "roster.applied"))
	} else {
		fmt.Fprintln(stdout, tr.T(lang, "roster.dry_ok"))
	}
	return nil
}
