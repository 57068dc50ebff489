package agencies

import (
	"sync"
	"sync/atomic"
)

// Registry holds the agency set in force. Readers take Current once per
// operation and keep that set; a reload swaps the whole set at once, so no
// operation sees half of an old set and half of a new one.
type Registry struct {
	cur atomic.Pointer[Set]
	mu  sync.Mutex // serialises Swap's callers (onSwap order)
	on  []func(*Set)
}

// NewRegistry starts with set.
func NewRegistry(set *Set) *Registry {
	r := &Registry{}
	r.cur.Store(set)
	return r
}

// Current is the set in force.
func (r *Registry) Current() *Set { return r.cur.Load() }

// OnSwap registers fn, called with every set installed by Swap.
func (r *Registry) OnSwap(fn func(*Set)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.on = append(r.on, fn)
}

// Swap installs set (already checked) and tells the listeners.
func (r *Registry) Swap(set *Set) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cur.Store(set)
	for _, fn := range r.on {
		fn(set)
	}
}
