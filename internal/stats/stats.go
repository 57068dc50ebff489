// Package stats derives the console's statistics from audit entries: the
// log already holds every declaration, message, ACK, decision and lane
// decision with its time, so statistics need no store of their own and
// agree with what auditors can check.
package stats

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/clearance"
	"github.com/gatehub/gatehub/internal/crossing"
	"github.com/gatehub/gatehub/internal/store"
)

// Crossing counts one day's crossings at one gate in one direction: a
// declared truck counts once, the day it passed its first checkpoint (a
// crossing.checkpoint-passed entry; in logs from before crossings were
// recorded, the first lane decision that opened a barrier for it).
type Crossing struct {
	Day       string // YYYY-MM-DD in the gates' time zone
	Gate      string
	Direction string
	Count     int
}

// Latency is a distribution of durations.
type Latency struct {
	Key      string // agency, or "" for all
	Count    int
	P50, P95 time.Duration
}

// NackReason counts one agency's refusals (and holds) by reason code,
// once per declaration however often the decision was re-derived.
type NackReason struct {
	Agency string
	Code   string
	Text   string
	Count  int
}

// Report is everything the statistics page shows.
type Report struct {
	From, To    time.Time
	Entries     int
	Truncated   bool
	Crossings   []Crossing
	Clearance   Latency
	AckLatency  []Latency
	NackReasons []NackReason
	Dwell       []Dwell
}

// Dwell is how long trucks stood at one checkpoint of a gate, from their
// first reading there to the barrier opening.
type Dwell struct {
	Gate, Checkpoint string
	Count            int
	P50, P95         time.Duration
}

// Directions maps gate/lane to the lane's direction.
type Directions func(gate, lane string) string

// Compute folds entries (ascending Seq) into a report.
func Compute(entries []store.AuditEntry, zone *time.Location, dir Directions) Report {
	var rep Report
	rep.Entries = len(entries)
	crossings := map[Crossing]int{}
	crossed := map[string]bool{} // a truck crosses once however many readings opened the barrier
	declared := map[string]time.Time{}
	cleared := map[string]bool{}
	var toClear []time.Duration
	queued := map[string]time.Time{}
	ackLat := map[string][]time.Duration{}
	type nackKey struct{ decl, agency, code string }
	seenNack := map[nackKey]bool{}
	nacks := map[[2]string]*NackReason{}
	dwell := map[[2]string][]time.Duration{} // gate, checkpoint
	cross := func(id string, at time.Time, gate, lane string) {
		if crossed[id] {
			return
		}
		crossed[id] = true
		d := ""
		if dir != nil {
			d = dir(gate, lane)
		}
		crossings[Crossing{Day: at.In(zone).Format("2006-01-02"), Gate: gate, Direction: d}]++
	}
	for _, e := range entries {
		switch e.Kind {
		case audit.KindCrossingPassed:
			var ev crossing.Event
			if json.Unmarshal(e.Payload, &ev) != nil || ev.Passage == nil {
				continue
			}
			k := [2]string{ev.Gate, ev.Passage.Checkpoint}
			dwell[k] = append(dwell[k], ev.Passage.Dwell())
			cross(ev.DeclarationID, e.Time, ev.Gate, ev.Passage.Lane)
		case audit.KindDeclarationAccepted:
			declared[e.DeclarationID] = e.Time
		case audit.KindMessageOutbound:
			if _, ok := queued[e.MessageID]; !ok {
				queued[e.MessageID] = e.Time
			}
		case audit.KindAckInbound:
			if t, ok := queued[e.MessageID]; ok && e.Agency != "" {
				ackLat[e.Agency] = append(ackLat[e.Agency], e.Time.Sub(t))
				delete(queued, e.MessageID) // a duplicate ACK is not a second answer
			}
		case audit.KindDecision:
			var p audit.Decision
			if audit.UnmarshalPayload(e.Payload, &p) != nil || p.Decision == nil {
				continue
			}
			if p.Decision.Status == clearance.Cleared && !cleared[e.DeclarationID] {
				if t, ok := declared[e.DeclarationID]; ok {
					toClear = append(toClear, e.Time.Sub(t))
					cleared[e.DeclarationID] = true
				}
			}
			// Refusals and holds only: a PENDING decision's reasons say who
			// is still awaited, not what an agency objected to.
			if p.Decision.Status != clearance.Rejected && p.Decision.Status != clearance.Hold {
				continue
			}
			for _, r := range p.Decision.Reasons {
				if r.Agency == "" || r.Code == "" || notObjection[r.Code] {
					continue
				}
				code, text := agencyCode(r.Code, r.EN)
				r.Code, r.EN = code, text
				k := nackKey{e.DeclarationID, r.Agency, r.Code}
				if seenNack[k] {
					continue
				}
				seenNack[k] = true
				nk := [2]string{r.Agency, r.Code}
				if nacks[nk] == nil {
					nacks[nk] = &NackReason{Agency: r.Agency, Code: r.Code, Text: r.EN}
				}
				nacks[nk].Count++
			}
		case audit.KindLaneDecision:
			var p struct {
				Answer struct {
					Gate, Lane, Action, DeclarationID string
				} `json:"answer"`
			}
			if json.Unmarshal(e.Payload, &p) != nil || p.Answer.Action != "OPEN" || p.Answer.DeclarationID == "" {
				continue
			}
			cross(p.Answer.DeclarationID, e.Time, p.Answer.Gate, p.Answer.Lane)
		}
	}
	for k, n := range crossings {
		k.Count = n
		rep.Crossings = append(rep.Crossings, k)
	}
	sort.Slice(rep.Crossings, func(i, j int) bool {
		a, b := rep.Crossings[i], rep.Crossings[j]
		if a.Day != b.Day {
			return a.Day < b.Day
		}
		if a.Gate != b.Gate {
			return a.Gate < b.Gate
		}
		return a.Direction < b.Direction
	})
	rep.Clearance = distribution("", toClear)
	for agency, ds := range ackLat {
		rep.AckLatency = append(rep.AckLatency, distribution(agency, ds))
	}
	sort.Slice(rep.AckLatency, func(i, j int) bool { return rep.AckLatency[i].Key < rep.AckLatency[j].Key })
	for _, n := range nacks {
		rep.NackReasons = append(rep.NackReasons, *n)
	}
	sort.Slice(rep.NackReasons, func(i, j int) bool {
		a, b := rep.NackReasons[i], rep.NackReasons[j]
		if a.Agency != b.Agency {
			return a.Agency < b.Agency
		}
		return a.Count > b.Count || (a.Count == b.Count && a.Code < b.Code)
	})
	for k, ds := range dwell {
		l := distribution("", ds)
		rep.Dwell = append(rep.Dwell, Dwell{Gate: k[0], Checkpoint: k[1], Count: l.Count, P50: l.P50, P95: l.P95})
	}
	sort.Slice(rep.Dwell, func(i, j int) bool {
		a, b := rep.Dwell[i], rep.Dwell[j]
		return a.Gate < b.Gate || (a.Gate == b.Gate && a.Checkpoint < b.Checkpoint)
	})
	return rep
}

// notObjection are decision reasons that say who is still awaited, not
// what anybody objected to.
var notObjection = map[string]bool{
	clearance.CodeCleared: true, clearance.CodeAwaitingDelivery: true, clearance.CodeAwaitingAck: true,
}

// agencyCode returns the agency's own reason code of a rejection: the
// clearance reason carries it, untranslated, after "rejected by NAME: "
// (clearance.nackReason). Other reasons keep the hub's code.
func agencyCode(code, en string) (string, string) {
	if code != clearance.CodeRejected {
		return code, en
	}
	_, detail, ok := strings.Cut(en, ": ")
	if !ok || detail == "" {
		return code, en
	}
	c, rest, _ := strings.Cut(detail, " ")
	return c, strings.TrimSpace(rest)
}

func distribution(key string, ds []time.Duration) Latency {
	l := Latency{Key: key, Count: len(ds)}
	if len(ds) == 0 {
		return l
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	l.P50, l.P95 = Percentile(s, 50), Percentile(s, 95)
	return l
}

// Percentile of sorted ds by the nearest-rank method.
func Percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}
