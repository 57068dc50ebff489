// Command gatehubd runs the border-gate integration hub. With no flags and
// no environment it runs everything on this machine: an embedded SQLite
// store under ./data, in-process fan-out and rate limits, and simulators of
// the four agencies, so that a declaration flows to a gate decision.
// Production sets GATEHUB_DATABASE_URL, GATEHUB_REDIS_URL and the agency
// endpoints (see README.md and deploy/).
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/version"
)

func main() {
	configPath := flag.String("config", "", "YAML configuration file (optional; environment variables GATEHUB_* override it)")
	showVersion := flag.Bool("version", false, "print the version and exit")
	flag.Parse()
	if *showVersion {
		fmt.Println("gatehubd", version.Get())
		return
	}
	if err := run(*configPath); err != nil {
		fmt.Fprintln(os.Stderr, "gatehubd:", err)
		os.Exit(1)
	}
}

func run(configPath string) error {
	cfg, err := config.Load(configPath, os.Getenv)
	if err != nil {
		return err
	}
	var handler slog.Handler = slog.NewJSONHandler(os.Stderr, nil)
	if cfg.LogFormat == "text" {
		handler = slog.NewTextHandler(os.Stderr, nil)
	}
	log := slog.New(handler)
	slog.SetDefault(log)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	a, err := app.New(ctx, cfg, app.Options{Log: log})
	if err != nil {
		return err
	}
	if a.Simulators != nil {
		log.Info("agency simulators running in-process", "base", a.Simulators.BaseURL(), "mode", cfg.SimulatorMode)
	}
	return a.Run(ctx)
}
