package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"jnedu/internal/identity"
	"jnedu/internal/lrs"
)

func cmdLRS(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	const usage = "usage: jnedu lrs client-create -org CODE -name NAME [-scope all|read|write] | jnedu lrs client-list | jnedu lrs client-revoke -id ID"
	if len(args) == 0 {
		return errors.New(usage)
	}
	sub, args := args[0], args[1:]
	fs, cf := flags("lrs "+sub, stderr)
	var org, name, scope *string
	var id *int64
	switch sub {
	case "client-create":
		org = fs.String("org", "", "code of the organisation the credential is limited to (required)")
		name = fs.String("name", "", "name of the tool (required)")
		scope = fs.String("scope", lrs.ScopeAll, "all, read or write")
	case "client-list":
	case "client-revoke":
		id = fs.Int64("id", 0, "credential id (from client-list)")
	default:
		return errors.New(usage)
	}
	a, err := loadApp(ctx, fs, cf, args, getenv, true)
	if err != nil {
		return err
	}
	defer a.DB.Close()
	switch sub {
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
