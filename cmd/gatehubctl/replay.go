package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/replay"
	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/store/sqlite"
)

// auditReplay verifies an archive, replays it into a fresh embedded store,
// and compares the state with a live hub's store or with another archive's
// replay. Exit status 2 means differences (or, with -rebuild, a message
// that does not rebuild); 1 means the comparison could not be made.
func auditReplayCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "replay [--rebuild] [--mappings DIR] [--against-archive OTHER.tar.gz | --database-url URL | --data-dir DIR] ARCHIVE.tar.gz",
		Short: "Rebuild state from an archive and diff it against a running hub or another archive",
		Long: `Verify an archive, replay it into a fresh embedded store, and compare the state with the
hub's store (or with another archive's replay). With --rebuild, also re-run the mappings over the
logged inputs and compare with the logged signed messages. Exit status 2 means differences (or a
message that does not rebuild); 1 means the comparison could not be made.`,
		Annotations: envAnnotation(storeEnvHelp),
		Args:        exactArgs("ARCHIVE.tar.gz"),
	}
	fs := c.Flags()
	sf := addStoreFlags(fs)
	rebuild := fs.Bool("rebuild", false, "also re-run the mappings over the logged inputs and compare with the logged signed messages")
	mappingsDir := fs.String("mappings", envOr("GATEHUB_MAPPINGS_DIR", "mappings"), "mappings directory (ACKs are read through it; -rebuild maps with it)")
	against := fs.String("against-archive", "", "compare with the replay of this archive instead of a live store")
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := sf.passwordInArgv(c); err != nil {
			return err
		}
		return auditReplay(c.Context(), sf, *rebuild, *mappingsDir, *against, args[0], c.OutOrStdout())
	}
	return c
}

func auditReplay(ctx context.Context, sf storeFlags, rebuild bool, mappingsDir, against, archive string, out io.Writer) error {
	reg, err := mapping.Load(mappingsDir)
	if err != nil {
		return fmt.Errorf("mappings: %w", err)
	}
	a, err := verifiedArchive(archive, out)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "gatehub-replay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	replayed, err := restoreArchive(ctx, a, reg, filepath.Join(tmp, "replayed.db"))
	if err != nil {
		return fmt.Errorf("%s: %w", archive, err)
	}
	fmt.Fprintf(out, "replayed %d entries into a fresh store: %d declarations, %d messages\n",
		len(a.Entries), len(replayed.Declarations), len(replayed.Messages))

	var other *replay.State
	if against != "" {
		b, err := verifiedArchive(against, out)
		if err != nil {
			return err
		}
		if other, err = restoreArchive(ctx, b, reg, filepath.Join(tmp, "against.db")); err != nil {
			return fmt.Errorf("%s: %w", against, err)
		}
	} else {
		st, err := sf.open(ctx)
		if err != nil {
			return err
		}
		other, err = replay.FromStore(ctx, st)
		st.Close()
		if err != nil {
			return err
		}
	}
	diffs := replay.Diff(replayed, other)
	for _, d := range diffs {
		fmt.Fprintln(out, "DIFFERENCE (replayed vs compared):", d)
	}
	fmt.Fprintf(out, "%d differences\n", len(diffs))

	failed := len(diffs) > 0
	if rebuild {
		rep, err := replay.Rebuild(ctx, a.Entries, reg, archiveVerifier(a))
		if err != nil {
			return err
		}
		for _, m := range rep.Messages {
			if m.Outcome != replay.RebuildOK {
				fmt.Fprintln(out, "REBUILD:", m)
			}
		}
		for _, v := range rep.MappingVersionsNeeded {
			fmt.Fprintln(out, "mapping version needed (from the git history of mappings/):", v)
		}
		fmt.Fprintf(out, "rebuilt %d messages: %d ok, %d mismatched, %d skipped\n", len(rep.Messages), rep.OK, rep.Mismatched, rep.Skipped)
		failed = failed || rep.Mismatched > 0
	}
	if failed {
		return exitError(exitProblems)
	}
	return nil
}

// verifiedArchive reads an archive and refuses to go on unless it verifies:
// replaying a damaged log would compare the live state with a fiction.
func verifiedArchive(path string, out io.Writer) (*audit.Archive, error) {
	a, err := readArchiveFile(path)
	if err != nil {
		return nil, err
	}
	rep := a.Verify(archiveVerifier(a))
	for _, fp := range rep.HubCerts {
		fmt.Fprintf(out, "%s: hub certificate in archive: %s (compare with the one published out of band)\n", path, fp)
	}
	if !rep.OK() {
		for _, p := range rep.Problems {
			fmt.Fprintf(out, "%s: PROBLEM: %s\n", path, p.Error())
		}
		fmt.Fprintf(out, "%s: archive does not verify; not replayed\n", path)
		return nil, exitError(exitProblems)
	}
	if a.Manifest.FromSeq != 1 {
		return nil, fmt.Errorf("%s: archive starts at seq %d; a replay needs the log from seq 1", path, a.Manifest.FromSeq)
	}
	return a, nil
}

// restoreArchive replays a into a new embedded store at path and returns
// the state read back from it.
func restoreArchive(ctx context.Context, a *audit.Archive, reg *mapping.Registry, path string) (*replay.State, error) {
	st, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	acks := &ack.Reader{Verifier: archiveSignVerifier(a), Mappings: reg}
	return replay.Restore(ctx, st, a.Entries, acks.Read)
}

// archiveSignVerifier trusts the archive's certificates within their own
// validity, as archiveVerifier does for audit verify.
func archiveSignVerifier(a *audit.Archive) *sign.Verifier {
	return app.ArchiveVerifier(a.Certs)
}
