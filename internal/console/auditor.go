package console

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/declaration"
	"github.com/gatehub/gatehub/internal/problem"
	"github.com/gatehub/gatehub/internal/store"
)

const auditPage = 50

type auditData struct {
	Q       url.Values
	Entries []store.AuditEntry
	Next    string
	Kinds   []string
	Errors  []string
	HasMore bool
	Export  bool
}

var auditKinds = []string{
	audit.KindDeclarationAccepted, audit.KindDeclarationAmended, audit.KindDeclarationCancelled, audit.KindDeclarationRefused,
	audit.KindMessageBuilt, audit.KindMessageOutbound, audit.KindMessageSuperseded, audit.KindMessageWithdrawn, audit.KindMessageResent,
	audit.KindAckInbound, audit.KindAckRefused, audit.KindDecision, audit.KindDeliveryAttempt, audit.KindOperatorRedrive,
	audit.KindOperatorCancel, audit.KindConfigApply, audit.KindConfigRefused, audit.KindAuthRefused, audit.KindLaneDecision, audit.KindAuditArchived,
}

// auditSearch mirrors GET /v1/audit with paging by sequence number.
func (s *Server) auditSearch(w http.ResponseWriter, r *http.Request, c *call) error {
	q := r.URL.Query()
	d := auditData{Q: q, Kinds: auditKinds, Export: s.Export != nil}
	f := store.AuditFilter{
		Kind: q.Get("kind"), DeclarationID: q.Get("declaration"), MessageID: q.Get("message"),
		Agency: q.Get("agency"), Plate: declaration.NormalizePlate(q.Get("plate")), Limit: auditPage + 1,
	}
	for _, tf := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		if v := q.Get(tf.name); v != "" {
			t, err := time.ParseInLocation("2006-01-02T15:04", v, gateZone)
			if err != nil {
				d.Errors = append(d.Errors, tf.name+": "+translate(c.Lang, "audit.badTime"))
			}
			*tf.dst = t
		}
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return problem.Validation([]problem.FieldError{{Code: "format", Detail: "after must be a sequence number"}})
		}
		f.FromSeq = n + 1
	}
	searched := q.Get("search") != "" || f.Plate != "" || f.DeclarationID != "" || f.MessageID != "" || f.Kind != "" || f.Agency != ""
	if searched && len(d.Errors) == 0 {
		entries, err := s.API.Views.AuditFind(r.Context(), f)
		if err != nil {
			return err
		}
		if len(entries) > auditPage {
			entries, d.HasMore = entries[:auditPage], true
			nq := url.Values{}
			for k, v := range q {
				nq[k] = v
			}
			nq.Set("after", strconv.FormatInt(entries[len(entries)-1].Seq, 10))
			d.Next = "/audit?" + nq.Encode()
		}
		d.Entries = entries
	}
	s.render(w, r, c, http.StatusOK, "audit", translate(c.Lang, "nav.audit"), d)
	return nil
}

type entryData struct {
	E        store.AuditEntry
	Pretty   string
	JSON     string
	PrevHash string
	Hash     string
	Links    bool // the entry's prev hash is the hash of the entry before it
	HashOK   bool // the entry's hash is recomputed from its content
	First    bool
}

// auditEntry shows one entry: payload pretty-printed (XML re-indented for
// reading only; the download is the exact bytes), and its chain position.
func (s *Server) auditEntry(w http.ResponseWriter, r *http.Request, c *call) error {
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq < 1 {
		return problem.NotFound("no audit entry " + r.PathValue("seq"))
	}
	from := max(seq-1, 1)
	es, err := s.API.Views.AuditFind(r.Context(), store.AuditFilter{FromSeq: from, ToSeq: seq, Limit: 2})
	if err != nil {
		return err
	}
	var e, prev *store.AuditEntry
	for i := range es {
		switch es[i].Seq {
		case seq:
			e = &es[i]
		case seq - 1:
			prev = &es[i]
		}
	}
	if e == nil {
		return problem.NotFound(fmt.Sprintf("no audit entry %d in the live log", seq))
	}
	if r.URL.Query().Get("raw") == "1" {
		ct := "application/json"
		if !json.Valid(e.Payload) {
			ct = "application/xml; charset=utf-8"
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="audit-%d.%s"`, seq, map[bool]string{true: "json", false: "xml"}[json.Valid(e.Payload)]))
		_, err := w.Write(e.Payload)
		return err
	}
	d := entryData{E: *e, PrevHash: hex.EncodeToString(e.PrevHash), Hash: hex.EncodeToString(e.Hash), First: seq == 1}
	d.HashOK = bytes.Equal(audit.EntryHash(e.PrevHash, e), e.Hash)
	if prev != nil {
		d.Links = bytes.Equal(prev.Hash, e.PrevHash)
	} else {
		d.Links = seq == 1 && len(e.PrevHash) == 0
	}
	if json.Valid(e.Payload) {
		var buf bytes.Buffer
		if json.Indent(&buf, e.Payload, "", "  ") == nil {
			d.JSON = buf.String()
		}
	} else if len(e.Payload) > 0 {
		d.Pretty = prettyXML(e.Payload)
	}
	s.render(w, r, c, http.StatusOK, "entry", fmt.Sprintf("#%d %s", seq, e.Kind), d)
	return nil
}

func prettyXML(b []byte) string {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(b); err != nil {
		return string(b)
	}
	doc.Indent(2)
	out, err := doc.WriteToString()
	if err != nil {
		return string(b)
	}
	return out
}

// verifyJob is one run of "verify chain" over the live log.
type verifyJob struct {
	mu sync.Mutex
	verifyStatus
}

// verifyStatus is a job's progress as the page shows it.
type verifyStatus struct {
	ID       string
	Owner    string
	Started  time.Time
	Head     int64
	Checked  int64
	From     int64
	Done     bool
	Problem  string
	Finished time.Time
}

func (j *verifyJob) snapshot() verifyStatus {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.verifyStatus
}

// Percent is the progress for the progress bar.
func (j verifyStatus) Percent() int {
	total := j.Head - j.From + 1
	if total <= 0 || j.Done {
		return 100
	}
	return int(j.Checked * 100 / total)
}

type verifyJobs struct {
	mu   sync.Mutex
	jobs map[string]*verifyJob
}

func (vj *verifyJobs) get(id, owner string) (*verifyJob, bool) {
	vj.mu.Lock()
	defer vj.mu.Unlock()
	j, ok := vj.jobs[id]
	if !ok || j.Owner != owner {
		return nil, false
	}
	return j, true
}

func (vj *verifyJobs) add(j *verifyJob) {
	vj.mu.Lock()
	defer vj.mu.Unlock()
	// Keep the last few: a finished report stays readable for a while.
	if len(vj.jobs) >= 64 {
		var oldest *verifyJob
		for _, o := range vj.jobs {
			if oldest == nil || o.Started.Before(oldest.Started) {
				oldest = o
			}
		}
		delete(vj.jobs, oldest.ID)
	}
	vj.jobs[j.ID] = j
}

// verifyStart verifies the live log's hash chain from its first stored
// entry to the head as of now, page by page, in the background.
func (s *Server) verifyStart(w http.ResponseWriter, r *http.Request, c *call) error {
	head, _, err := s.API.Views.AuditHead(r.Context())
	if err != nil {
		return err
	}
	j := &verifyJob{verifyStatus: verifyStatus{ID: randomID()[:16], Owner: c.P.String(), Started: s.Now(), Head: head, From: 1}}
	s.verifies.add(j)
	go s.runVerify(context.WithoutCancel(r.Context()), j)
	http.Redirect(w, r, "/audit/verify/"+j.ID, http.StatusSeeOther)
	return nil
}

const verifyBatch = 2000

func (s *Server) runVerify(ctx context.Context, j *verifyJob) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	defer cancel()
	finish := func(problem string) {
		j.mu.Lock()
		j.Done, j.Problem, j.Finished = true, problem, s.Now()
		j.mu.Unlock()
	}
	var prev []byte
	next := int64(1)
	first := true
	for next <= j.Head {
		es, err := s.API.Views.AuditFind(ctx, store.AuditFilter{FromSeq: next, ToSeq: j.Head, Limit: verifyBatch})
		if err != nil {
			finish("could not read the log: " + err.Error())
			return
		}
		if len(es) == 0 {
			if first {
				break
			}
			finish(fmt.Sprintf("entries from %d to %d are missing", next, j.Head))
			return
		}
		if first {
			// Entries before the first stored one were archived and
			// pruned: the live chain continues from the archive's head
			// (checked against the archive by gatehubctl audit verify).
			first = false
			next, prev = es[0].Seq, es[0].PrevHash
			j.mu.Lock()
			j.From = next
			j.mu.Unlock()
		}
		if err := audit.VerifyChain(prev, next, es); err != nil {
			var p *audit.Problem
			if errors.As(err, &p) {
				finish(fmt.Sprintf("entry %d: %s", p.Seq, p.Reason))
			} else {
				finish(err.Error())
			}
			return
		}
		last := es[len(es)-1]
		prev, next = last.Hash, last.Seq+1
		j.mu.Lock()
		j.Checked += int64(len(es))
		j.mu.Unlock()
	}
	finish("")
}

func (s *Server) verifyPage(w http.ResponseWriter, r *http.Request, c *call) error {
	j, ok := s.verifies.get(r.PathValue("job"), c.P.String())
	if !ok {
		return problem.NotFound("no verification " + r.PathValue("job"))
	}
	s.render(w, r, c, http.StatusOK, "verify", translate(c.Lang, "verify.title"), j.snapshot())
	return nil
}

// verifyLive streams the job's progress until it is done.
func (s *Server) verifyLive(w http.ResponseWriter, r *http.Request, c *call) error {
	j, ok := s.verifies.get(r.PathValue("job"), c.P.String())
	if !ok {
		return problem.NotFound("no verification " + r.PathValue("job"))
	}
	ctx, cancel := s.streamContext(r)
	defer cancel()
	sse, err := startSSE(w)
	if err != nil {
		return err
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	last := ""
	for {
		snap := j.snapshot()
		html, err := s.fragment(c, r, "verify", "verify-status", snap)
		if err != nil {
			return err
		}
		if html != last {
			if err := sse.send("progress", html); err != nil {
				return nil
			}
			last = html
		}
		if snap.Done {
			return sse.send("done", "")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// archive downloads the live log as an archive (gatehubctl audit export's
// format, verifiable offline with gatehubctl audit verify).
func (s *Server) archive(w http.ResponseWriter, r *http.Request, c *call) error {
	if s.Export == nil {
		return problem.NotFound("archive export is not configured")
	}
	w.Header().Set("Content-Type", "application/gzip")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="gatehub-audit-%s.tar.gz"`, s.Now().UTC().Format("20060102T150405Z")))
	var buf bytes.Buffer
	if err := s.Export(r.Context(), &buf); err != nil {
		w.Header().Del("Content-Disposition")
		w.Header().Del("Content-Type")
		return err
	}
	_, err := w.Write(buf.Bytes())
	return err
}
