package simulator

import "container/list"

// DefaultMaxRecords bounds what a simulator remembers: at a few KiB per
// record (the signed ACK, its statistics) about 30 MiB per agency, and at
// the hub's demo rates the last hour or more of messages, well beyond the
// hub's resend window for an overdue ACK. Without a bound every message
// ever seen stayed in memory (1.1 GB after 35,600 declarations).
const DefaultMaxRecords = 4096

// records remembers the most recently used message ids, up to max: a
// resend within that window gets the original signed ACK; one older than
// the window is answered afresh (same AckID, new bytes), as a real agency
// that archived the exchange would.
type records struct {
	max   int
	byID  map[string]*list.Element
	order *list.List // of *entry, most recently used first
}

type entry struct {
	id  string
	rec *record
}

func newRecords(max int) *records {
	if max <= 0 {
		max = DefaultMaxRecords
	}
	return &records{max: max, byID: map[string]*list.Element{}, order: list.New()}
}

// get returns id's record, marking it used; nil when not remembered.
func (r *records) get(id string) *record {
	e, ok := r.byID[id]
	if !ok {
		return nil
	}
	r.order.MoveToFront(e)
	return e.Value.(*entry).rec
}

// peek returns id's record without marking it used.
func (r *records) peek(id string) *record {
	if e, ok := r.byID[id]; ok {
		return e.Value.(*entry).rec
	}
	return nil
}

// put remembers rec under id, forgetting the least recently used record
// beyond max. A caller still holding a forgotten record may go on writing
// to it; nobody reads it again.
func (r *records) put(id string, rec *record) {
	if e, ok := r.byID[id]; ok {
		e.Value.(*entry).rec = rec
		r.order.MoveToFront(e)
		return
	}
	r.byID[id] = r.order.PushFront(&entry{id: id, rec: rec})
	for r.order.Len() > r.max {
		last := r.order.Back()
		r.order.Remove(last)
		delete(r.byID, last.Value.(*entry).id)
	}
}

func (r *records) len() int { return r.order.Len() }

func (r *records) each(fn func(id string, rec *record)) {
	for e := r.order.Front(); e != nil; e = e.Next() {
		en := e.Value.(*entry)
		fn(en.id, en.rec)
	}
}
