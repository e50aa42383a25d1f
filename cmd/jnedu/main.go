// Command jnedu is the Jinan education informatization platform: one
// program for the web pages, the API, the workers and the tools.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"jnedu/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Main(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
