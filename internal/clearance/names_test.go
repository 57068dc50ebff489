package clearance

import "github.com/gatehub/gatehub/internal/agencies"

// names are the shipped agency files' display texts.
var names = func() *agencies.Set {
	s, err := agencies.LoadDir("../../deploy/agencies")
	if err != nil {
		panic(err)
	}
	return s
}()
