package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/gatehub/gatehub/internal/pki"
)

func keysGen(_ context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("keys gen", flag.ContinueOnError)
	participant := fs.String("participant", "", "participant id (hub, customs, province-langson, …)")
	alg := fs.String("alg", string(pki.RSA2048), "rsa-2048 | ecdsa-p256")
	dir := fs.String("dir", "data/keys", "where to write PARTICIPANT.key.pem and PARTICIPANT.crt.pem")
	days := fs.Int("days", 730, "certificate validity in days")
	trust := fs.String("trust", "", "also add the certificate to this trust store directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *participant == "" {
		return errors.New("usage: gatehubctl keys gen -participant NAME [-alg rsa-2048|ecdsa-p256] [-dir DIR] [-trust DIR]")
	}
	if _, err := os.Stat(filepath.Join(*dir, *participant+".key.pem")); err == nil {
		return fmt.Errorf("%s already has a key in %s; use keys rotate", *participant, *dir)
	}
	now := time.Now()
	id, err := pki.Generate(*participant, pki.Algorithm(*alg), now.Add(-time.Minute), now.AddDate(0, 0, *days))
	if err != nil {
		return err
	}
	if err := id.Save(*dir); err != nil {
		return err
	}
	if *trust != "" {
		if err := addToTrust(*trust, *participant, id, time.Time{}, time.Time{}); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "%s: key and certificate written to %s (fingerprint %s, valid until %s)\n",
		*participant, *dir, pki.Fingerprint(id.Cert), id.Cert.NotAfter.Format(time.DateOnly))
	return nil
}

func keysImport(_ context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("keys import", flag.ContinueOnError)
	participant := fs.String("participant", "", "whose certificate it is")
	certFile := fs.String("cert", "", "PEM certificate file")
	trust := fs.String("trust", "data/trust", "trust store directory")
	from := fs.String("from", "", "accept from (RFC 3339; default: certificate's NotBefore)")
	until := fs.String("until", "", "accept until (RFC 3339; default: certificate's NotAfter)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *participant == "" || *certFile == "" {
		return errors.New("usage: gatehubctl keys import -participant NAME -cert FILE.pem [-trust DIR] [-from T] [-until T]")
	}
	data, err := os.ReadFile(*certFile)
	if err != nil {
		return err
	}
	cert, err := pki.ParseCertPEM(data)
	if err != nil {
		return fmt.Errorf("%s: %w", *certFile, err)
	}
	var f, u time.Time
	if *from != "" {
		if f, err = time.Parse(time.RFC3339, *from); err != nil {
			return fmt.Errorf("-from: %w", err)
		}
	}
	if *until != "" {
		if u, err = time.Parse(time.RFC3339, *until); err != nil {
			return fmt.Errorf("-until: %w", err)
		}
	}
	if err := addToTrust(*trust, *participant, &pki.Identity{Participant: *participant, Cert: cert}, f, u); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: certificate %s trusted in %s\n", *participant, pki.Fingerprint(cert), *trust)
	return nil
}

// keysRotate replaces a participant's signing key. The old certificate
// stays in the trust store with its window ending now, so every message
// signed before the rotation keeps verifying, and nothing signed later can
// use the old key.
func keysRotate(_ context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("keys rotate", flag.ContinueOnError)
	participant := fs.String("participant", "hub", "participant whose key to rotate")
	alg := fs.String("alg", string(pki.RSA2048), "algorithm of the new key")
	dir := fs.String("dir", "data/keys", "key directory")
	trust := fs.String("trust", "data/trust", "trust store directory")
	days := fs.Int("days", 730, "validity of the new certificate in days")
	if err := fs.Parse(args); err != nil {
		return err
	}
	old, err := pki.LoadIdentity(*dir, *participant)
	if err != nil {
		return fmt.Errorf("current key: %w", err)
	}
	now := time.Now()
	if err := addToTrust(*trust, *participant, old, time.Time{}, now); err != nil {
		return err
	}
	retired := filepath.Join(*dir, "retired", pki.Fingerprint(old.Cert)[:16])
	if err := old.Save(retired); err != nil {
		return fmt.Errorf("keep retired key: %w", err)
	}
	id, err := pki.Generate(*participant, pki.Algorithm(*alg), now.Add(-time.Minute), now.AddDate(0, 0, *days))
	if err != nil {
		return err
	}
	if err := id.Save(*dir); err != nil {
		return err
	}
	if err := addToTrust(*trust, *participant, id, time.Time{}, time.Time{}); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: rotated %s → %s; the old certificate stays trusted for messages signed before %s\n",
		*participant, pki.Fingerprint(old.Cert)[:16], pki.Fingerprint(id.Cert)[:16], now.UTC().Format(time.RFC3339))
	return nil
}

func addToTrust(dir, participant string, id *pki.Identity, from, until time.Time) error {
	ts := pki.NewTrustStore()
	if _, err := os.Stat(dir); err == nil {
		if ts, err = pki.LoadTrustStore(dir); err != nil {
			return err
		}
	}
	ts.Add(participant, id.Cert, from, until)
	if err := ts.Save(dir); err != nil {
		return fmt.Errorf("save trust store: %w", err)
	}
	return nil
}
