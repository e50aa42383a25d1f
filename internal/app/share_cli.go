package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"jnedu/internal/share"
)

func cmdShare(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	const usage = "usage: jnedu share import -owner USER [-visibility V] FILE... | jnedu share stats"
	if len(args) == 0 {
		return errors.New(usage)
	}
	sub, args := args[0], args[1:]
	fs, cf := flags("share "+sub, stderr)
	var owner, vis *string
	switch sub {
	case "import":
		owner = fs.String("owner", "", "user name of the videos' owner (required)")
		vis = fs.String("visibility", "private", "private, school or all")
	case "stats":
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
		if *owner == "" || fs.NArg() == 0 {
			return errors.New(usage)
		}
		p, err := a.Identity.PrincipalOf(ctx, *owner)
		if err != nil {
			return fmt.Errorf("owner %q: %w", *owner, err)
		}
		if !p.Can(share.PermUpload) {
			return fmt.Errorf("owner %q may not upload videos", *owner)
		}
		var failed int
		for _, path := range fs.Args() {
			v, err := a.Share.ImportFile(ctx, p, path, share.Meta{Visibility: share.Visibility(*vis)})
			if err != nil {
				failed++
				fmt.Fprintf(stderr, "%s: %s\n", path, describe(err, getenv))
				continue
			}
			note := "queued for processing"
			if v.Media != nil && v.Media.Playable {
				note = "same bytes as an existing video: playable now"
			}
			fmt.Fprintf(stdout, "%s → video %d (%s), %s\n", path, v.ID, v.MediaSHA256[:12], note)
		}
		fmt.Fprintf(stdout, "%d imported, %d failed; serve processes the queue\n", fs.NArg()-failed, failed)
		if failed > 0 {
			return fmt.Errorf("%d files were not imported", failed)
		}
	case "stats":
		st, err := a.Share.Stats(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "videos %d (taken down %d), media %d %v, uploads in progress %d\n", st.Videos, st.TakenDown, st.Media, st.MediaStates, st.Uploading)
		fmt.Fprintf(stdout, "storage: originals %d bytes, playback files %d bytes; views %d\n", st.Originals, st.Outputs, st.Views)
		tw := tabwriter.NewWriter(stdout, 2, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ORG\tVIDEOS\tVIEWS\tBYTES")
		for _, o := range st.PerOrg {
			name := fmt.Sprint(o.OrgID)
			if org, err := a.Identity.Org(ctx, o.OrgID); err == nil {
				name = org.Name
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", name, o.Videos, o.Views, o.Bytes)
		}
		tw.Flush()
	}
	return nil
}
