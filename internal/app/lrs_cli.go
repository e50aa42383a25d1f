package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"jnedu/internal/identity"
	"jnedu/internal/lrs"
	"jnedu/internal/platform/web"
)

func cmdLRS(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	const usage = "usage: jnedu lrs client-create -org CODE -name NAME [-scope all|read|write] | jnedu lrs client-list | jnedu lrs client-revoke -id ID\n" +
		"       jnedu lrs import -org CODE [-batch 100] FILE.jsonl | jnedu lrs export [-org CODE] [-since TIME] [-until TIME] [-o FILE]"
	if len(args) == 0 {
		return errors.New(usage)
	}
	sub, args := args[0], args[1:]
	fs, cf := flags("lrs "+sub, stderr)
	var org, name, scope *string
	var id *int64
	var batch *int
	var since, until, outFile *string
	switch sub {
	case "client-create":
		org = fs.String("org", "", "code of the organisation the credential is limited to (required)")
		name = fs.String("name", "", "name of the tool (required)")
		scope = fs.String("scope", lrs.ScopeAll, "all, read or write")
	case "client-list":
	case "client-revoke":
		id = fs.Int64("id", 0, "credential id (from client-list)")
	case "import":
		org = fs.String("org", "", "code of the organisation the records belong to (required)")
		batch = fs.Int("batch", 100, "statements per transaction; a batch is stored whole or not at all")
	case "export":
		org = fs.String("org", "", "only this organisation and those under it (default: all)")
		since = fs.String("since", "", "only statements stored after this time (RFC 3339)")
		until = fs.String("until", "", "only statements stored at or before this time (RFC 3339)")
		outFile = fs.String("o", "", "write to this file instead of standard output")
	default:
		return errors.New(usage)
	}
	a, err := loadApp(ctx, fs, cf, args, getenv, true)
	if err != nil {
		return err
	}
	defer a.DB.Close()
	switch sub {
	case "import":
		return lrsImport(ctx, a, *org, *batch, fs.Args(), stdout, stderr, getenv)
	case "export":
		return lrsExport(ctx, a, *org, *since, *until, *outFile, stdout, stderr, getenv)
	case "client-create":
		o, err := a.Identity.OrgByCode(ctx, *org)
		if err != nil {
			return fmt.Errorf("organisation %q: %w", *org, err)
		}
		c, secret, err := a.LRS.CreateClient(ctx, 0, lrs.ClientInput{Name: *name, Scope: *scope, OrgID: o.ID, OrgPath: o.Path})
		if err != nil {
			return errors.New(describe(err, getenv))
		}
		a.Identity.Record(ctx, nil, identity.AuditEntry{ActorName: "cli", Action: "cli lrs client-create", //nolint:errcheck
			Target: fmt.Sprintf("lrs_client:%d", c.ID), Detail: c.Key, Result: identity.ResultOK})
		fmt.Fprintf(stdout, "key %s\nsecret %s\n(the secret is shown only now)\n", c.Key, secret)
	case "client-list":
		root, err := a.Identity.Orgs(ctx, identity.OrgFilter{Limit: 100000})
		if err != nil {
			return err
		}
		var prefixes []string
		for _, o := range root {
			if o.ParentID == 0 {
				prefixes = append(prefixes, o.Path)
			}
		}
		cs, err := a.LRS.Clients(ctx, prefixes)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tKEY\tNAME\tSCOPE\tORG\tREVOKED")
		for _, c := range cs {
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%d\t%v\n", c.ID, c.Key, c.Name, c.Scope, c.OrgID, c.RevokedAt != 0)
		}
		tw.Flush()
	case "client-revoke":
		if err := a.LRS.RevokeClient(ctx, *id); err != nil {
			return err
		}
		a.Identity.Record(ctx, nil, identity.AuditEntry{ActorName: "cli", Action: "cli lrs client-revoke", //nolint:errcheck
			Target: fmt.Sprintf("lrs_client:%d", *id), Result: identity.ResultOK})
		fmt.Fprintf(stdout, "revoked %d\n", *id)
	}
	return nil
}

// lrsImport stores the statements of a JSONL file (as lrs export writes
// them) for an organisation, batch by batch, and prints a line for each
// line of the file not stored, then a summary.
func lrsImport(ctx context.Context, a *App, org string, batch int, files []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(files) != 1 || org == "" {
		return errors.New("usage: jnedu lrs import -org CODE [-batch 100] FILE.jsonl")
	}
	o, err := a.Identity.OrgByCode(ctx, org)
	if err != nil {
		return fmt.Errorf("organisation %q: %w", org, err)
	}
	f, err := os.Open(files[0])
	if err != nil {
		return err
	}
	defer f.Close()
	tr, lang := lrsTranslator(getenv)
	sum, err := a.LRS.Import(ctx, f, lrs.ImportOptions{OrgPath: o.Path, Batch: batch}, func(l lrs.ImportLine) {
		status := tr.T(lang, "lrs.import_refused")
		if l.Status == "not stored" {
			status = tr.T(lang, "lrs.import_not_stored")
		}
		if l.Status != "stored" {
			fmt.Fprintln(stdout, tr.T(lang, "lrs.import_line", l.Line, l.ID, status, l.Reason))
		}
	})
	fmt.Fprintln(stdout, tr.T(lang, "lrs.import_summary", sum.Lines, sum.Stored, sum.Refused, sum.NotStored, sum.Batches, sum.FailedBatches))
	a.Identity.Record(ctx, nil, identity.AuditEntry{ActorName: "cli", Action: "cli lrs import", //nolint:errcheck
		Target: "org:" + org, Detail: fmt.Sprintf("%s: stored %d of %d", files[0], sum.Stored, sum.Lines), Result: identity.ResultOK})
	if err != nil {
		return errors.New(describe(err, getenv))
	}
	if sum.Refused+sum.NotStored > 0 {
		return errors.New(tr.T(lang, "lrs.import_failed", sum.Refused+sum.NotStored))
	}
	return nil
}

// lrsExport writes the statements kept, one JSON object a line, in stored
// order.
func lrsExport(ctx context.Context, a *App, org, since, until, outFile string, stdout, stderr io.Writer, getenv func(string) string) error {
	var f lrs.ExportFilter
	if org != "" {
		o, err := a.Identity.OrgByCode(ctx, org)
		if err != nil {
			return fmt.Errorf("organisation %q: %w", org, err)
		}
		f.OrgPrefix = o.Path
	}
	for _, x := range []struct {
		s string
		t *time.Time
	}{{since, &f.Since}, {until, &f.Until}} {
		if x.s == "" {
			continue
		}
		t, err := lrs.ParseTimestamp(x.s, true)
		if err != nil {
			return fmt.Errorf("time %q: want RFC 3339 with a zone, e.g. 2026-09-01T00:00:00+08:00", x.s)
		}
		*x.t = t
	}
	out := stdout
	if outFile != "" {
		file, err := os.Create(outFile)
		if err != nil {
			return err
		}
		defer file.Close()
		out = file
	}
	n, err := a.LRS.Export(ctx, out, f)
	if err != nil {
		return err
	}
	if outFile != "" {
		if err := out.(*os.File).Close(); err != nil {
			return err
		}
	}
	tr, lang := lrsTranslator(getenv)
	fmt.Fprintln(stderr, tr.T(lang, "lrs.export_done", n))
	return nil
}

// lrsTranslator speaks Chinese when the terminal's LANG is Chinese, English
// otherwise.
func lrsTranslator(getenv func(string) string) (*web.Translator, string) {
	lang := web.LangEN
	if strings.HasPrefix(getenv("LANG"), "zh") {
		lang = web.LangZH
	}
	tr, err := web.NewTranslator(web.Messages(), lrs.Messages())
	if err != nil {
		panic(err) // the catalogs are fixed: a duplicate key is a programming error
	}
	return tr, lang
}
