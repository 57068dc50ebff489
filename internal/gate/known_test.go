package gate

import "github.com/gatehub/gatehub/internal/agencies"

// known is the shipped agency set every test gate is checked against.
var known = func() *agencies.Set {
	s, err := agencies.LoadDir("../../deploy/agencies")
	if err != nil {
		panic(err)
	}
	return s
}()
