package gatedevice

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 25, 3, 15, 0, 0, time.UTC)

func testKey(name string) (ed25519.PrivateKey, ed25519.PublicKey, string) {
	seed := sha256.Sum256([]byte(name))
	key := ed25519.NewKeyFromSeed(seed[:])
	pub := key.Public().(ed25519.PublicKey)
	return key, pub, KeyID(pub)
}

func sample() Decision {
	return Decision{
		Gate: "HUUNGHI", Checkpoint: "B2", Lane: "EXP-1", Device: "EXP-1-barrier",
		DeclarationID: "D-20261125-0001", Version: 2, Plate: "12C-12345",
		Action:   ActionOpen,
		ReasonEN: "cleared by Customs, Border Guard, Vehicle Registry, Guangxi Single Window",
		ReasonVI: "đã được thông quan bởi Hải quan, Bộ đội Biên phòng, Đăng kiểm, Cửa sổ một cửa Quảng Tây",
		IssuedAt: t0, ExpiresAt: t0.Add(2 * time.Minute),
		Nonce: "q1ZnR0aCBvZiBhIG5vbmNl",
	}
}

// rewrite decodes a token's payload, edits it and re-encodes it, keeping
// the original signature: what an attacker on the lane network can do.
func rewrite(t *testing.T, token string, edit func(string) string) string {
	t.Helper()
	body, sig, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		t.Fatal(err)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(edit(string(raw)))) + "." + sig
}

func TestVerify(t *testing.T) {
	keyA, pubA, kidA := testKey("A")
	keyB, pubB, kidB := testKey("B")
	keys := map[string]ed25519.PublicKey{kidA: pubA, kidB: pubB}
	mustSign := func(key ed25519.PrivateKey, kid string, d Decision) string {
		tok, err := Sign(key, kid, d)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	valid := mustSign(keyA, kidA, sample())
	closed := sample()
	closed.Action = ActionKeepClosed
	closedTok := mustSign(keyA, kidA, closed)

	tests := []struct {
		name  string
		token string
		keys  map[string]ed25519.PublicKey
		now   time.Time
		want  error // nil: must verify
	}{
		{"valid", valid, keys, t0.Add(time.Minute), nil},
		{"valid with issuer clock 30s ahead", valid, keys, t0.Add(-MaxClockSkew), nil},
		{"issued beyond skew", valid, keys, t0.Add(-MaxClockSkew - time.Second), ErrNotYetValid},
		{"expired at ExpiresAt", valid, keys, t0.Add(2 * time.Minute), ErrExpired},
		{"expired later", valid, keys, t0.Add(time.Hour), ErrExpired},
		{"forged: signed by a key the device does not trust", mustSign(keyB, kidB, sample()),
			map[string]ed25519.PublicKey{kidA: pubA}, t0, ErrUnknownKey},
		{"forged: other key claims trusted key id", mustSign(keyB, kidA, sample()), keys, t0, ErrBadSignature},
		{"tampered: KEEP-CLOSED turned OPEN", rewrite(t, closedTok, func(s string) string {
			return strings.Replace(s, `"action":"KEEP-CLOSED"`, `"action":"OPEN"`, 1)
		}), keys, t0, ErrBadSignature},
		{"tampered: expiry pushed out", rewrite(t, valid, func(s string) string {
			return strings.Replace(s, "03:17:00Z", "23:17:00Z", 1)
		}), keys, t0, ErrBadSignature},
		{"tampered: other lane", rewrite(t, valid, func(s string) string {
			return strings.Replace(s, `"lane":"EXP-1"`, `"lane":"EXP-2"`, 1)
		}), keys, t0, ErrBadSignature},
		{"key id swapped to the other trusted key", rewrite(t, valid, func(s string) string {
			return strings.Replace(s, kidA, kidB, 1)
		}), keys, t0, ErrBadSignature},
		{"truncated signature", valid[:len(valid)-4], keys, t0, ErrMalformed},
		{"truncated payload", valid[:20] + valid[strings.Index(valid, "."):], keys, t0, ErrMalformed},
		{"signature missing", valid[:strings.Index(valid, ".")+1], keys, t0, ErrMalformed},
		{"no separator", strings.Replace(valid, ".", "", 1), keys, t0, ErrMalformed},
		{"three parts", valid + ".x", keys, t0, ErrMalformed},
		{"padded base64", valid + "=", keys, t0, ErrMalformed},
		{"empty", "", keys, t0, ErrMalformed},
		{"duplicate key in JSON", rewrite(t, valid, func(s string) string {
			return strings.Replace(s, `"action":"OPEN"`, `"action":"KEEP-CLOSED","action":"OPEN"`, 1)
		}), keys, t0, ErrMalformed},
		{"unknown field", rewrite(t, valid, func(s string) string {
			return strings.Replace(s, `{"typ"`, `{"admin":true,"typ"`, 1)
		}), keys, t0, ErrMalformed},
		{"whitespace added", rewrite(t, valid, func(s string) string {
			return strings.Replace(s, `,"gate"`, `, "gate"`, 1)
		}), keys, t0, ErrMalformed},
		{"other payload type", rewrite(t, valid, func(s string) string {
			return strings.Replace(s, Type, "gatehub.audit-checkpoint.v1", 1)
		}), keys, t0, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Verify(tt.keys, tt.token, tt.now)
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				want := sample()
				want.KeyID = kidA
				if d != want {
					t.Fatalf("decision = %+v\nwant %+v", d, want)
				}
				return
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("Verify error = %v, want %v", err, tt.want)
			}
			if d != (Decision{}) {
				t.Fatalf("refused token still returned a decision: %+v", d)
			}
		})
	}
}

func TestSignRefuses(t *testing.T) {
	key, _, kid := testKey("A")
	tests := []struct {
		name string
		key  ed25519.PrivateKey
		kid  string
		edit func(*Decision)
		want string
	}{
		{"short key", key[:10], kid, func(*Decision) {}, "private key has 10 bytes"},
		{"no key id", key, "", func(*Decision) {}, "missing kid"},
		{"no gate or lane", key, kid, func(d *Decision) { d.Gate, d.Lane = "", "" }, "missing gate, lane"},
		{"bad action", key, kid, func(d *Decision) { d.Action = "LIFT" }, `action "LIFT"`},
		{"no times", key, kid, func(d *Decision) { d.IssuedAt, d.ExpiresAt = time.Time{}, time.Time{} }, "missing expiresAt, issuedAt"},
		{"expires before issued", key, kid, func(d *Decision) { d.ExpiresAt = d.IssuedAt }, "is not after issuedAt"},
		{"version zero", key, kid, func(d *Decision) { d.Version = 0 }, "version 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sample()
			tt.edit(&d)
			if _, err := Sign(tt.key, tt.kid, d); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Sign error = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestSignFillsNonceAndNormalizesTimes(t *testing.T) {
	key, pub, kid := testKey("A")
	d := sample()
	d.Nonce = ""
	hcm := time.FixedZone("ICT", 7*3600)
	d.IssuedAt = t0.In(hcm).Add(400 * time.Millisecond)
	d.ExpiresAt = d.IssuedAt.Add(2 * time.Minute)
	tok1, err := Sign(key, kid, d)
	if err != nil {
		t.Fatal(err)
	}
	tok2, _ := Sign(key, kid, d)
	if tok1 == tok2 {
		t.Fatal("two decisions share a nonce")
	}
	got, err := Verify(map[string]ed25519.PublicKey{kid: pub}, tok1, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Nonce) != 22 || !got.IssuedAt.Equal(t0) || got.IssuedAt.Location() != time.UTC {
		t.Fatalf("nonce %q issuedAt %v", got.Nonce, got.IssuedAt)
	}
}

// The README's example token, key id and public key must be what Sign
// produces today: vendors test their own verifiers against them.
func TestGoldenVectorInREADME(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	key, pub, kid := testKey("gatehub lane decision example")
	tok, err := Sign(key, kid, sample())
	if err != nil {
		t.Fatal(err)
	}
	for what, want := range map[string]string{"token": tok, "key id": kid, "public key": string(MarshalPublicKeyPEM(pub))} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("README.md lacks the example %s; it is now:\n%s", what, want)
		}
	}
}

// A token for one checkpoint cannot open the barrier of another, nor a
// barrier facing another truck; a v1 token (no checkpoint) is refused.
func TestCheckRouting(t *testing.T) {
	d := sample()
	me := Barrier{Gate: "HUUNGHI", Checkpoint: "B2", Lane: "EXP-1", Device: "EXP-1-barrier"}
	if err := Check(d, me, "12C-12345"); err != nil {
		t.Fatalf("own decision: %v", err)
	}
	for name, tc := range map[string]struct {
		b     Barrier
		plate string
		want  error
	}{
		"other checkpoint": {Barrier{Gate: "HUUNGHI", Checkpoint: "B0", Lane: "EXP-1", Device: "EXP-1-barrier"}, "12C-12345", ErrMisrouted},
		"other lane":       {Barrier{Gate: "HUUNGHI", Checkpoint: "B2", Lane: "EXP-2", Device: "EXP-2-barrier"}, "12C-12345", ErrMisrouted},
		"other gate":       {Barrier{Gate: "TANTHANH", Checkpoint: "B2", Lane: "EXP-1", Device: "EXP-1-barrier"}, "12C-12345", ErrMisrouted},
		"other device":     {Barrier{Gate: "HUUNGHI", Checkpoint: "B2", Lane: "EXP-1", Device: "EXP-1-display"}, "12C-12345", ErrMisrouted},
		"other truck":      {me, "29C-99999", ErrWrongPlate},
	} {
		if err := Check(d, tc.b, tc.plate); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", name, err, tc.want)
		}
	}
	key, pub, kid := testKey("hub")
	tok, err := Sign(key, kid, d)
	if err != nil {
		t.Fatal(err)
	}
	v1 := rewrite(t, tok, func(s string) string {
		return strings.Replace(strings.Replace(s, Type, "gatehub.lane-decision.v1", 1), `"checkpoint":"B2",`, "", 1)
	})
	if _, err := Verify(map[string]ed25519.PublicKey{kid: pub}, v1, t0); !errors.Is(err, ErrMalformed) {
		t.Errorf("v1 token: %v", err)
	}
	d.Checkpoint = ""
	if _, err := Sign(key, kid, d); err == nil {
		t.Error("signed a decision without a checkpoint")
	}
}
