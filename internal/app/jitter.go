package app

import (
	"math/rand/v2"
	"sync"
)

// jitter returns a goroutine-safe source of retry jitter in [0, 1).
func jitter() func() float64 {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	return func() float64 {
		mu.Lock()
		defer mu.Unlock()
		return r.Float64()
	}
}
