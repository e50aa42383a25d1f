package app

import (
	"context"
	"errors"
	"fmt"
	"io"

	"jnedu/internal/exam/marking"
)

// cmdExam runs the exam commands.
func cmdExam(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) > 0 {
		switch args[0] {
		case "import-answers":
			return cmdExamImportAnswers(ctx, args[1:], stdout, stderr, getenv)
		case "simulate":
			return cmdExamSimulate(ctx, args[1:], stdout, stderr, getenv)
		}
	}
	return errors.New("usage: jnedu exam import-answers -user USER DIR | jnedu exam simulate -site URL ...")
}

// cmdExamImportAnswers takes in an answer package a site node exported to
// a removable disk (signed.json and files/).
func cmdExamImportAnswers(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	const usage = "usage: jnedu exam import-answers -user USER DIR"
	fs, cf := flags("exam import-answers", stderr)
	user := fs.String("user", "", "user name of the exam staff member taking the package in (required)")
	a, err := loadApp(ctx, fs, cf, args, getenv, true)
	if err != nil {
		return err
	}
	defer a.DB.Close()
	if *user == "" || fs.NArg() != 1 {
		return errors.New(usage)
	}
	p, err := a.Identity.PrincipalOf(ctx, *user)
	if err != nil {
		return fmt.Errorf("user %q: %w", *user, err)
	}
	if !p.Can(marking.PermIntake) {
		return fmt.Errorf("user %q may not take in answer packages", *user)
	}
	dir, err := marking.OpenDir(fs.Arg(0))
	if err != nil {
		return err
	}
	rep, err := a.Marking.ImportPackage(ctx, p, dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "exam %s, site %s, session %s: %d recordings taken in\n", rep.Exam, rep.Site, rep.Session, rep.Files)
	for _, pr := range rep.Problems {
		fmt.Fprintf(stdout, "  refused: %s\n", pr)
	}
	if !rep.Receipt.Complete {
		fmt.Fprintf(stdout, "incomplete: %d recordings missing\n", len(rep.Receipt.Missing))
		return fmt.Errorf("the package is incomplete (%d recordings missing)", len(rep.Receipt.Missing))
	}
	fmt.Fprintln(stdout, "complete: marking has started")
	return nil
}
