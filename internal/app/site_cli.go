package app

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"jnedu/internal/exam/site"
)

const siteUsage = `usage:
  jnedu site --center URL --site CODE --token TOKEN [--data DIR] [--listen ADDR]
        run the exam site node (考点服务): download the package, serve the exam
        client at / and the proctor console at /console
  jnedu site load DIR [--site CODE] [--data DIR]
        load a site package from a folder (package.json and blobs/<sha256>)
  jnedu site key --session S [--code CODE] [--data DIR]
        enter the sealed code from the envelope (read from standard input
        when --code is not given)
  jnedu site export --session S --out DIR [--end] [--data DIR]
        write the session's signed answer package to a folder (removable disk)

The token may also be given as JNEDU_SITE_TOKEN.`

func cmdSite(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	sub := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		sub, args = args[0], args[1:]
	}
	fs := flag.NewFlagSet("jnedu site "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprintln(stderr, siteUsage) }
	data := fs.String("data", "site-data", "the site node's data folder")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	code := fs.String("site", "", "this site's code (考点代码); needed the first time a data folder is used")
	var center, token, listen, session, out, keyCode *string
	var end *bool
	switch sub {
	case "":
		center = fs.String("center", "", "the center's base URL (https://…)")
		token = fs.String("token", "", "API token of an exam-staff account covering the site")
		listen = fs.String("listen", "0.0.0.0:8090", "address the exam client and console are served on")
	case "load":
	case "key":
		session = fs.String("session", "", "session code (场次)")
		keyCode = fs.String("code", "", "the sealed code; read from standard input when empty")
	case "export":
		session = fs.String("session", "", "session code (场次)")
		out = fs.String("out", "", "folder to write (on the removable disk)")
		end = fs.Bool("end", false, "end the session first (when the node is not running)")
	default:
		fmt.Fprintln(stderr, siteUsage)
		return fmt.Errorf("unknown subcommand %q", sub)
	}
	// Flags may come after the folder argument of load.
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(*logLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: lvl}))
	opt := site.Options{DataDir: *data, Log: log, Site: *code}
	switch sub {
	case "":
		if *center == "" && *code == "" {
			// A node that only loads packages from folders needs its site
			// code once; later starts read it from the data folder.
			log.Info("no --center: offline node, load packages with `jnedu site load`")
		}
		if *token == "" {
			*token = getenv("JNEDU_SITE_TOKEN")
		}
		if *center != "" && (*code == "" || *token == "") {
			return errors.New("--center needs --site and --token (or JNEDU_SITE_TOKEN)")
		}
		opt.Center, opt.Site, opt.Token = *center, *code, *token
		n, err := site.Open(ctx, opt)
		if err != nil {
			return err
		}
		defer n.Close()
		return n.Serve(ctx, *listen, func(addr string) {
			log.Info("site node listening", "addr", addr, "data", *data, "center", *center)
			fmt.Fprintf(stdout, "考点服务已启动 / site node running: http://%s/ (监考台 console: http://%s/console)\n", addr, addr)
		})
	case "load":
		if len(pos) != 1 {
			return errors.New("usage: jnedu site load DIR [--data DIR]")
		}
		opt.Tool = true
		n, err := site.Open(ctx, opt)
		if err != nil {
			return err
		}
		defer n.Close()
		p, err := n.LoadFolder(ctx, pos[0])
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "site package loaded: %s, site %s, revision %d, %d sessions, %d candidates\n",
			p.Exam.Title, p.Site.Code, p.Revision, len(p.Sessions), len(p.Candidates))
		return nil
	case "key":
		if *session == "" {
			return errors.New("usage: jnedu site key --session S [--code CODE]")
		}
		c := *keyCode
		if c == "" {
			fmt.Fprint(stderr, "密封码 / sealed code: ")
			line, err := bufio.NewReader(os.Stdin).ReadString('\n')
			if err != nil && line == "" {
				return err
			}
			c = line
		}
		opt.Tool = true
		n, err := site.Open(ctx, opt)
		if err != nil {
			return err
		}
		defer n.Close()
		if err := n.SetKeyCode(ctx, *session, strings.TrimSpace(c)); err != nil {
			return siteError(err)
		}
		fmt.Fprintf(stdout, "key accepted: the papers of session %s are open (a running node picks it up within seconds)\n", *session)
		return nil
	case "export":
		if *session == "" || *out == "" {
			return errors.New("usage: jnedu site export --session S --out DIR [--end]")
		}
		n, err := site.Open(ctx, opt)
		if err != nil {
			// The running node holds the chunk log: export beside it.
			opt.Tool = true
			if n, err = site.Open(ctx, opt); err != nil {
				return err
			}
			if *end {
				n.Close()
				return errors.New("the site node is running: end the session on the console, then export")
			}
		}
		defer n.Close()
		if *end {
			if err := n.EndSession(ctx, *session, "export"); err != nil {
				return err
			}
		} else if !n.SessionEnded(ctx, *session) {
			return errors.New("the session has not ended: end it on the console (or pass --end when the node is not running)")
		}
		m, err := n.Export(ctx, *session, *out)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "answer package written to %s: %d candidates, %d recordings\n", *out, len(m.Candidates), len(m.Files()))
		return nil
	}
	return nil
}

// siteError words the key errors for the terminal.
func siteError(err error) error {
	e := site.Describe(err)
	if e == "" {
		return err
	}
	return errors.New(e)
}
