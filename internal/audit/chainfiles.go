package audit

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ArchivePaths expands args (archive files and directories of them) into
// archive files in chain order (by the from_seq of their manifests). A
// directory contributes every *.tar.gz directly inside it.
func ArchivePaths(args []string) ([]string, error) {
	type item struct {
		path string
		from int64
	}
	var items []item
	seen := map[string]bool{}
	addFile := func(p string) error {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		if seen[abs] {
			return nil
		}
		seen[abs] = true
		m, err := ReadManifest(p)
		if err != nil {
			return err
		}
		items = append(items, item{p, m.FromSeq})
		return nil
	}
	for _, arg := range args {
		fi, err := os.Stat(arg)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			if err := addFile(arg); err != nil {
				return nil, err
			}
			continue
		}
		des, err := os.ReadDir(arg)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, de := range des {
			if de.Type().IsRegular() && strings.HasSuffix(de.Name(), ".tar.gz") && !strings.HasPrefix(de.Name(), ".") {
				if err := addFile(filepath.Join(arg, de.Name())); err != nil {
					return nil, err
				}
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("%s: no *.tar.gz archives in the directory", arg)
		}
	}
	sort.SliceStable(items, func(i, j int) bool { return items[i].from < items[j].from })
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.path
	}
	return out, nil
}

// ChainArchive is the verification result of one file of a chain.
type ChainArchive struct {
	Path     string   `json:"path"`
	Manifest Manifest `json:"manifest"`
	SHA256   HexBytes `json:"sha256"`
	Report   *Report  `json:"report"`
}

// ChainProblem is a problem found in one archive of a chain, or in the link
// between it and the one before (Path is then the later archive).
type ChainProblem struct {
	Path string `json:"path"`
	Problem
}

// ChainReport is the result of verifying a chain of archives.
type ChainReport struct {
	Archives          []ChainArchive `json:"archives"`
	Entries           int            `json:"entries"`
	Checkpoints       int            `json:"checkpoints"`
	SignaturesChecked int            `json:"signatures_checked"`
	SignaturesSkipped int            `json:"signatures_skipped"`
	Problems          []ChainProblem `json:"problems"`
	Notes             []string       `json:"notes"`
}

// OK reports whether no archive and no link has a problem.
func (r *ChainReport) OK() bool { return len(r.Problems) == 0 }

// ChainOptions configure VerifyChainFiles.
type ChainOptions struct {
	// XML returns the XML signature verifier for one archive, trusting the
	// certificates it carries; nil skips XML signatures.
	XML      func(certs map[string][]*x509.Certificate) XMLVerifier
	Workers  int
	Progress func(Progress)
	// Archive, if set, is called after each archive is verified.
	Archive func(ChainArchive)
}

// VerifyChainFiles verifies each archive of paths (in chain order, see
// ArchivePaths) streaming, and the links between consecutive ones: entry
// continuity (VerifyContinuity) and, where the later archive names it, the
// SHA-256 of the earlier file. The error is for an archive that cannot be
// read; integrity failures are in the report.
func VerifyChainFiles(ctx context.Context, paths []string, opts ChainOptions) (*ChainReport, error) {
	rep := &ChainReport{Problems: []ChainProblem{}, Notes: []string{}}
	var total int64
	for _, p := range paths {
		m, err := ReadManifest(p)
		if err != nil {
			return nil, err
		}
		total += int64(m.Entries)
	}
	tk := newTicker(opts.Progress)
	var done, anchored, lastSeq int64
	var prev *ChainArchive
	for i, path := range paths {
		ar, err := OpenArchiveFile(path)
		if err != nil {
			return nil, err
		}
		vo := VerifyOptions{Workers: opts.Workers}
		if opts.XML != nil {
			vo.XML = opts.XML(ar.Certs)
		}
		base := done
		vo.Progress = func(p Progress) {
			tk.tick(Progress{Entries: base + p.Entries, Total: total, Bytes: p.Bytes}, false)
		}
		r, err := ar.Verify(ctx, vo)
		ar.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		done += int64(r.Entries)
		ca := ChainArchive{Path: path, Manifest: ar.Manifest, SHA256: ar.SHA256(), Report: r}
		for _, p := range r.Problems {
			rep.Problems = append(rep.Problems, ChainProblem{Path: path, Problem: p})
		}
		for _, n := range r.Notes {
			if strings.HasSuffix(n, uncoveredNote) {
				// Said once for the chain below: a checkpoint in a later
				// archive covers this one's tail too.
				continue
			}
			rep.Notes = append(rep.Notes, path+": "+n)
		}
		if r.Anchored > anchored {
			anchored = r.Anchored
		}
		lastSeq = ar.Manifest.ToSeq
		m := ar.Manifest
		switch {
		case i == 0 && len(m.PrevArchiveSHA256) > 0:
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s continues the archive file with SHA-256 %x, which was not given", path, []byte(m.PrevArchiveSHA256)))
		case i == 0 && m.FromSeq > 1:
			rep.Notes = append(rep.Notes, fmt.Sprintf("%s starts at seq %d: the entries before it were not given", path, m.FromSeq))
		case i > 0:
			if err := VerifyContinuity(prev.Manifest, m); err != nil {
				p, ok := err.(*Problem)
				if !ok {
					p = &Problem{Seq: m.FromSeq, Reason: err.Error()}
				}
				rep.Problems = append(rep.Problems, ChainProblem{Path: path, Problem: *p})
			}
			switch {
			case len(m.PrevArchiveSHA256) == 0:
				rep.Notes = append(rep.Notes, fmt.Sprintf("%s does not name the file it continues: only the entry hash link to %s is checked", path, prev.Path))
			case !bytes.Equal(m.PrevArchiveSHA256, prev.SHA256):
				rep.Problems = append(rep.Problems, ChainProblem{Path: path, Problem: Problem{Seq: m.FromSeq, Reason: fmt.Sprintf(
					"continues the archive file with SHA-256 %s, but %s hashes to %s (file replaced)", short(m.PrevArchiveSHA256), prev.Path, short(prev.SHA256))}})
			}
		}
		rep.Entries += r.Entries
		rep.Checkpoints += r.Checkpoints
		rep.SignaturesChecked += r.SignaturesChecked
		rep.SignaturesSkipped += r.SignaturesSkipped
		rep.Archives = append(rep.Archives, ca)
		if opts.Archive != nil {
			opts.Archive(ca)
		}
		prev = &rep.Archives[len(rep.Archives)-1]
	}
	if n := lastSeq - anchored; len(paths) > 0 && n > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("%d entries after seq %d are not covered by a checkpoint in these archives%s", n, anchored, uncoveredNote))
	}
	tk.tick(Progress{Entries: done, Total: total}, true)
	return rep, nil
}
