package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/replay"
	"github.com/gatehub/gatehub/internal/store"
	"github.com/gatehub/gatehub/internal/store/sqlite"
)

// auditReplay verifies archives, replays them into a fresh embedded store,
// and compares the state with a live hub's store or with another archive's
// replay. Exit status 2 means differences (or, with --rebuild, a message
// that does not rebuild); 1 means the comparison could not be made.
func auditReplayCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "replay [--rebuild] [--mappings DIR] [--state-dir DIR] [--against-archive OTHER | --database-url URL | --data-dir DIR | --no-compare] ARCHIVE.tar.gz|DIR...",
		Short: "Rebuild state from archives and diff it against a running hub or another archive",
		Long: `Verify archives (one, or a chain of them, or directories of them), replay them in order into
a fresh embedded store one batch of entries at a time, and compare the state with the hub's store (or
with another chain's replay). With --rebuild, also re-run the mappings each message was built with
(from the archive where it carries them, else --mappings) over the logged inputs and compare with
the logged signed messages.

With --state-dir the replayed store and the position it reached are kept in DIR; run again with the
next archives of the chain and the same --state-dir to continue from there, without the archives
before. Progress goes to stderr; -o json prints the summary. Exit status 2 means differences (or a
message that does not rebuild); 1 means the comparison could not be made.`,
		Annotations: envAnnotation(storeEnvHelp),
		Args:        cobra.MinimumNArgs(1),
	}
	fs := c.Flags()
	sf := addStoreFlags(fs)
	var o replayFlags
	o.rebuild = fs.Bool("rebuild", false, "also re-run the mappings over the logged inputs and compare with the logged signed messages")
	o.mappingsDir = fs.String("mappings", envOr("GATEHUB_MAPPINGS_DIR", "mappings"), "mappings directory, for what an archive carries no inputs for (ACKs and --rebuild of entries logged before inputs were recorded)")
	o.against = fs.String("against-archive", "", "compare with the replay of this archive (or directory) instead of a live store")
	o.stateDir = fs.String("state-dir", "", "keep the replayed store and its position here, and continue from them when present")
	o.noCompare = fs.Bool("no-compare", false, "replay (and rebuild) only; compare with nothing")
	o.workers = fs.Int("workers", runtime.GOMAXPROCS(0), "XML signatures checked side by side while verifying")
	o.format = addOutputFlag(c)
	c.RunE = func(c *cobra.Command, args []string) error {
		if err := sf.passwordInArgv(c); err != nil {
			return err
		}
		if *o.noCompare && *o.against != "" {
			return usagef("--no-compare and --against-archive exclude each other")
		}
		return auditReplay(c.Context(), sf, o, args, c.OutOrStdout(), c.ErrOrStderr())
	}
	return c
}

type replayFlags struct {
	rebuild, noCompare             *bool
	mappingsDir, against, stateDir *string
	workers                        *int
	format                         *outputFormat
}

// replaySummary is what replay prints with -o json.
type replaySummary struct {
	Archives     []string            `json:"archives"`
	Entries      int64               `json:"entries"`
	Position     *replay.Position    `json:"position"`
	Checkpoint   *positionCheckpoint `json:"checkpoint,omitempty"`
	Declarations int                 `json:"declarations"`
	Messages     int                 `json:"messages"`
	Compared     string              `json:"compared,omitempty"`
	// DifferencesOmitted counts the differences found beyond the
	// replay.MaxDifferences listed.
	DifferencesOmitted int                   `json:"differences_omitted,omitempty"`
	Differences        []replay.Difference   `json:"differences"`
	Rebuild            *replay.RebuildReport `json:"rebuild,omitempty"`
	Seconds            float64               `json:"seconds"`
	EntriesPerSec      float64               `json:"entries_per_second"`
	MaxRSSBytes        int64                 `json:"max_rss_bytes"`
	OK                 bool                  `json:"ok"`
}

func auditReplay(ctx context.Context, sf storeFlags, o replayFlags, args []string, out, errOut io.Writer) error {
	reg, err := mapping.Load(*o.mappingsDir)
	if err != nil {
		return fmt.Errorf("mappings: %w", err)
	}
	tmp, err := os.MkdirTemp("", "gatehub-replay-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	dir := *o.stateDir
	if dir == "" {
		dir = filepath.Join(tmp, "replayed")
	}
	start := time.Now()
	res, err := replayChain(ctx, args, dir, reg, *o.rebuild, *o.workers, tmp, out, errOut)
	if err != nil {
		return err
	}
	sum := replaySummary{Archives: res.paths, Entries: res.entries, Position: res.pos, Checkpoint: res.checkpoint, Rebuild: res.rebuild}
	st, err := sqlite.OpenTool(ctx, filepath.Join(dir, replayDB))
	if err != nil {
		return err
	}
	defer st.Close()
	// Both states are walked a page of declarations at a time, so the
	// comparison's memory does not grow with the stores.
	var other store.Store
	if !*o.noCompare {
		if *o.against != "" {
			sum.Compared = "archive " + *o.against
			odir := filepath.Join(tmp, "against")
			if _, err := replayChain(ctx, []string{*o.against}, odir, reg, false, *o.workers, tmp, out, errOut); err != nil {
				return err
			}
			ost, err := sqlite.OpenTool(ctx, filepath.Join(odir, replayDB))
			if err != nil {
				return err
			}
			defer ost.Close()
			other = ost
		} else {
			sum.Compared = "live store"
			live, err := sf.open(ctx)
			if err != nil {
				return err
			}
			defer live.Close()
			other = live
		}
	}
	cmp, err := replay.CompareStores(ctx, st, other)
	if err != nil {
		return err
	}
	sum.Declarations, sum.Messages = cmp.Declarations, cmp.Messages
	if other != nil {
		sum.Differences, sum.DifferencesOmitted = cmp.Differences, cmp.Omitted
	}
	d := time.Since(start)
	sum.Seconds, sum.EntriesPerSec = d.Seconds(), perSecond(res.entries, d)
	sum.MaxRSSBytes = peakRSS()
	sum.OK = len(sum.Differences) == 0 && sum.DifferencesOmitted == 0 && (sum.Rebuild == nil || sum.Rebuild.Mismatched == 0)
	if *o.format == outputJSON {
		if sum.Differences == nil {
			sum.Differences = []replay.Difference{}
		}
		if err := writeJSON(out, sum); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "replayed %d entries (to seq %d) into a store: %d declarations, %d messages (%.0f entries/s)\n",
			res.entries, res.pos.Seq, sum.Declarations, sum.Messages, sum.EntriesPerSec)
		if res.checkpoint == nil {
			fmt.Fprintf(out, "note: seq %d, where the replay stopped, is covered by no signed checkpoint of the archives\n", res.pos.Seq)
		}
		if !*o.noCompare {
			for _, d := range sum.Differences {
				fmt.Fprintln(out, "DIFFERENCE (replayed vs compared):", d)
			}
			if sum.DifferencesOmitted > 0 {
				fmt.Fprintf(out, "… and %d more differences not listed\n", sum.DifferencesOmitted)
			}
			fmt.Fprintf(out, "%d differences\n", len(sum.Differences)+sum.DifferencesOmitted)
		}
		if rep := sum.Rebuild; rep != nil {
			for _, m := range rep.Messages {
				fmt.Fprintln(out, "REBUILD:", m)
			}
			for _, v := range rep.MappingVersionsNeeded {
				fmt.Fprintln(out, "mapping version needed (from the git history of mappings/):", v)
			}
			fmt.Fprintf(out, "rebuilt %d messages: %d ok, %d mismatched, %d skipped\n", rep.OK+rep.Mismatched+rep.Skipped, rep.OK, rep.Mismatched, rep.Skipped)
		}
	}
	if !sum.OK {
		return exitError(exitProblems)
	}
	return nil
}

// Files of a replay state directory.
const (
	replayDB       = "replay.db"
	replayPosition = "position.json"
)

// positionCheckpoint is the signed checkpoint at the position a replay
// stopped, when there is one: what a later replay starts from.
type positionCheckpoint struct {
	Seq       int64          `json:"seq"`
	Hash      audit.HexBytes `json:"hash"`
	Signature []byte         `json:"signature"`
	KeyID     string         `json:"key_id"`
	CreatedAt time.Time      `json:"created_at"`
	HubCert   string         `json:"hub_cert"` // fingerprint of the certificate that verifies it
}

// savedPosition is position.json.
type savedPosition struct {
	Position   *replay.Position    `json:"position"`
	Checkpoint *positionCheckpoint `json:"checkpoint,omitempty"`
	Archives   []string            `json:"archives"` // file names replayed, over every run
}

type chainResult struct {
	paths      []string
	entries    int64
	pos        *replay.Position
	checkpoint *positionCheckpoint
	rebuild    *replay.RebuildReport
}

// replayChain verifies the chain args name (refusing to go on unless it
// verifies: replaying a damaged log would compare the live state with a
// fiction) and replays it into dir, continuing from dir's position when
// there is one.
func replayChain(ctx context.Context, args []string, dir string, reg *mapping.Registry, rebuild bool, workers int, tmp string, out, errOut io.Writer) (*chainResult, error) {
	paths, err := audit.ArchivePaths(args)
	if err != nil {
		return nil, err
	}
	rep, _, err := verifyChain(ctx, paths, workers, errOut)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, a := range rep.Archives {
		for _, fp := range a.Report.HubCerts {
			if !seen[fp] {
				seen[fp] = true
				fmt.Fprintf(errOut, "hub certificate in archive: %s (compare with the one published out of band)\n", fp)
			}
		}
	}
	if !rep.OK() {
		for _, p := range rep.Problems {
			fmt.Fprintf(out, "PROBLEM: %s: %s\n", p.Path, p.Error())
		}
		fmt.Fprintln(out, "the archives do not verify; not replayed")
		return nil, exitError(exitProblems)
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	saved := savedPosition{}
	if b, err := os.ReadFile(filepath.Join(dir, replayPosition)); err == nil {
		if err := json.Unmarshal(b, &saved); err != nil || saved.Position == nil {
			return nil, fmt.Errorf("%s: unreadable replay position: %v", filepath.Join(dir, replayPosition), err)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	} else if _, err := os.Stat(filepath.Join(dir, replayDB)); err == nil {
		return nil, fmt.Errorf("%s holds a replay store but no position: replay into an empty directory", dir)
	}
	if saved.Position != nil && rep.Archives[0].Manifest.FromSeq != saved.Position.Seq+1 {
		return nil, fmt.Errorf("%s stopped at seq %d; the first archive given starts at seq %d", dir, saved.Position.Seq, rep.Archives[0].Manifest.FromSeq)
	}
	if saved.Checkpoint != nil {
		// The state starts from a signed checkpoint: it must still verify
		// with a hub certificate the archives carry.
		if err := checkSavedCheckpoint(saved.Checkpoint, rep); err != nil {
			return nil, fmt.Errorf("%s: %w", dir, err)
		}
	}
	st, err := sqlite.OpenTool(ctx, filepath.Join(dir, replayDB))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	res := &chainResult{paths: paths, pos: saved.Position}
	var rebuilds []*replay.RebuildReport
	inputs := newInputCache(filepath.Join(tmp, "inputs"), reg)
	var changes []inputsChange
	for _, path := range paths {
		ar, err := audit.OpenArchiveFile(path)
		if err != nil {
			return nil, err
		}
		known, err := localAgencies()
		if err != nil {
			ar.Close()
			return nil, err
		}
		acks := &ackMappings{src: ar, ar: ar, inputs: inputs, verify: app.ArchiveVerifier(known, ar.Certs), changes: &changes}
		ropts := replay.RestoreOptions{From: res.pos, Total: int64(ar.Manifest.Entries), Progress: progressTo(errOut, "replay "+filepath.Base(path))}
		if rebuild {
			ropts.Rebuild = &replay.RebuildOptions{Registry: inputs.registry(ar), Verify: certsVerifier(ar.Certs)}
		}
		pos, err := replay.RestoreStream(ctx, st, acks, acks.read, ropts)
		ar.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		res.entries += pos.Entries - entriesOf(res.pos)
		res.pos = pos
		if pos.Rebuilds != nil {
			rebuilds = append(rebuilds, pos.Rebuilds)
		}
		saved.Archives = append(saved.Archives, filepath.Base(path))
	}
	res.checkpoint = checkpointAt(res.pos.Seq, rep)
	if rebuild {
		res.rebuild = mergeRebuilds(rebuilds)
	}
	saved.Position, saved.Checkpoint = res.pos, res.checkpoint
	b, err := json.MarshalIndent(saved, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, replayPosition), append(b, '\n'), 0o640); err != nil {
		return nil, err
	}
	return res, nil
}

func entriesOf(p *replay.Position) int64 {
	if p == nil {
		return 0
	}
	return p.Entries
}

// checkpointAt finds the verified checkpoint of the chain at seq.
func checkpointAt(seq int64, rep *audit.ChainReport) *positionCheckpoint {
	last := rep.Archives[len(rep.Archives)-1]
	ar, err := audit.OpenArchiveFile(last.Path)
	if err != nil {
		return nil
	}
	defer ar.Close()
	for _, cp := range ar.Checkpoints {
		if cp.Seq != seq {
			continue
		}
		for _, c := range ar.Certs[audit.HubParticipant] {
			if audit.VerifyCheckpoint(cp, c.PublicKey) == nil {
				return &positionCheckpoint{Seq: cp.Seq, Hash: cp.Hash, Signature: cp.Signature, KeyID: cp.KeyID, CreatedAt: cp.CreatedAt, HubCert: fingerprintOf(c.Raw)}
			}
		}
	}
	return nil
}

// checkSavedCheckpoint verifies the checkpoint a saved replay stopped at
// with the hub certificates of the archives that continue it.
func checkSavedCheckpoint(cp *positionCheckpoint, rep *audit.ChainReport) error {
	ar, err := audit.OpenArchiveFile(rep.Archives[0].Path)
	if err != nil {
		return err
	}
	defer ar.Close()
	c := store.AuditCheckpoint{Seq: cp.Seq, Hash: cp.Hash, Signature: cp.Signature, KeyID: cp.KeyID, CreatedAt: cp.CreatedAt}
	for _, cert := range ar.Certs[audit.HubParticipant] {
		if audit.VerifyCheckpoint(c, cert.PublicKey) == nil {
			return nil
		}
	}
	return fmt.Errorf("the signed checkpoint at seq %d the replay stopped at does not verify with the hub certificates of %s", cp.Seq, rep.Archives[0].Path)
}

func mergeRebuilds(reps []*replay.RebuildReport) *replay.RebuildReport {
	out := &replay.RebuildReport{}
	needed := map[string]bool{}
	for _, r := range reps {
		out.OK += r.OK
		out.Mismatched += r.Mismatched
		out.Skipped += r.Skipped
		out.Messages = append(out.Messages, r.Messages...)
		for _, v := range r.MappingVersionsNeeded {
			if !needed[v] {
				needed[v] = true
				out.MappingVersionsNeeded = append(out.MappingVersionsNeeded, v)
			}
		}
	}
	return out
}
