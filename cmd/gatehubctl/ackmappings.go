package main

import (
	"encoding/json"
	"time"

	"github.com/gatehub/gatehub/internal/ack"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/replay"
	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/store"
)

// ackMappings reads each logged ACK with the mapping files the archive
// carries rather than the --mappings directory: those the hub had in force
// when the ACK arrived, which are the set the last message.built before it
// names. It watches the entries as the replay reads them (a Source in
// front of the archive) and keeps only where the set changed, so its
// memory grows with the mapping releases, not with the log. An ACK from
// before any recorded set (archives older than the inputs) is read with
// --mappings, as before.
type ackMappings struct {
	src     replay.Source
	ar      *audit.ArchiveReader
	inputs  *inputCache
	verify  *sign.Verifier
	changes *[]inputsChange // shared along a chain: a set named in one archive holds in the next
}

type inputsChange struct {
	from   time.Time
	inputs string
}

func (a *ackMappings) Next() (*store.AuditEntry, error) {
	e, err := a.src.Next()
	if err != nil || e.Kind != audit.KindMessageBuilt {
		return e, err
	}
	var b struct {
		Inputs string `json:"inputs"`
	}
	// A record that does not decode names no inputs; the replay itself
	// reports it when it applies the entry.
	if json.Unmarshal(e.Payload, &b) == nil && b.Inputs != "" {
		cs := *a.changes
		if n := len(cs); n == 0 || cs[n-1].inputs != b.Inputs {
			*a.changes = append(cs, inputsChange{from: e.Time, inputs: b.Inputs})
		}
	}
	return e, nil
}

// read is the replay's AckReader.
func (a *ackMappings) read(agency string, raw []byte, at time.Time) (mapping.AckFields, error) {
	reg, err := a.registry(at)
	if err != nil {
		return mapping.AckFields{}, err
	}
	r := ack.Reader{Verifier: a.verify, Mappings: reg}
	return r.Read(agency, raw, at)
}

// registry is the set in force at at: the last change at or before it.
func (a *ackMappings) registry(at time.Time) (*mapping.Registry, error) {
	cs := *a.changes
	for i := len(cs) - 1; i >= 0; i-- {
		if !cs[i].from.After(at) {
			return a.inputs.registry(a.ar)(audit.MessageBuilt{Inputs: cs[i].inputs})
		}
	}
	return a.inputs.reg, nil
}
