package gatedevice_test

import (
	"crypto/ed25519"
	"fmt"
	"time"

	"github.com/gatehub/gatehub/adapters/gatedevice"
)

// A barrier controller verifies a decision offline with the hub's public
// key, then checks that it is addressed to itself before acting.
func ExampleVerify() {
	// On the hub.
	seed := make([]byte, ed25519.SeedSize)
	key := ed25519.NewKeyFromSeed(seed)
	kid := gatedevice.KeyID(key.Public().(ed25519.PublicKey))
	issued := time.Date(2026, 11, 25, 3, 15, 0, 0, time.UTC)
	token, err := gatedevice.Sign(key, kid, gatedevice.Decision{
		Gate: "HUUNGHI", Checkpoint: "B2", Lane: "EXP-1", Device: "EXP-1-barrier",
		DeclarationID: "D-20261125-0001", Version: 1, Plate: "12C-12345",
		Action: gatedevice.ActionOpen, IssuedAt: issued, ExpiresAt: issued.Add(2 * time.Minute),
	})
	if err != nil {
		panic(err)
	}

	// On the barrier controller, which was given the hub's PEM public key.
	pub, err := gatedevice.ParsePublicKeyPEM(gatedevice.MarshalPublicKeyPEM(key.Public().(ed25519.PublicKey)))
	if err != nil {
		panic(err)
	}
	d, err := gatedevice.Verify(map[string]ed25519.PublicKey{kid: pub}, token, issued.Add(10*time.Second))
	if err != nil {
		fmt.Println("keep closed:", err)
		return
	}
	// Addressed to this barrier, for the plate its own camera read?
	me := gatedevice.Barrier{Gate: "HUUNGHI", Checkpoint: "B2", Lane: "EXP-1", Device: "EXP-1-barrier"}
	if err := gatedevice.Check(d, me, "12C-12345"); err != nil {
		fmt.Println("keep closed:", err)
		return
	}
	fmt.Println(d.Action, d.Plate)

	_, err = gatedevice.Verify(map[string]ed25519.PublicKey{kid: pub}, token, issued.Add(3*time.Minute))
	fmt.Println(err != nil)

	// The same token shown to the barrier of the next checkpoint.
	b0 := gatedevice.Barrier{Gate: "HUUNGHI", Checkpoint: "B0", Lane: "MARK-1", Device: "MARK-1-barrier"}
	fmt.Println(gatedevice.Check(d, b0, "12C-12345") != nil)
	// Output:
	// OPEN 12C-12345
	// true
	// true
}
