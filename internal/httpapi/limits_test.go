package httpapi

import "testing"

// Every route that can carry a body names its limit: a route added without
// one would answer every request with a body 413 ("this endpoint takes no
// request body"), which only shows once a client calls it.
func TestEveryBodyRouteHasALimit(t *testing.T) {
	for _, rt := range (&Server{}).Routes() {
		if rt.Method == "GET" || rt.Method == "HEAD" || rt.Method == "DELETE" {
			continue
		}
		key := rt.Method + " " + rt.Pattern
		if _, ok := bodyLimits[key]; !ok {
			t.Errorf("%s has no entry in bodyLimits (0 if it takes no body)", key)
		}
	}
}
