package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehub/gatehub/internal/pki"
)

func keysGenCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "gen --participant NAME [--alg rsa-2048|ecdsa-p256|sm2] [--dir DIR | --pkcs11 URI] [--trust DIR]",
		Short: "Generate a participant key pair and certificate",
		Long: `Generate a participant key pair and a self-signed certificate, written to
DIR/PARTICIPANT.key.pem and DIR/PARTICIPANT.crt.pem. Refuses to overwrite an existing key: use
keys rotate. An agency generates its own key and hands over only the certificate (keys import).

With --pkcs11 URI (RFC 7512, e.g. pkcs11:token=gatehub;object=hub?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=/run/secrets/pin)
the key pair is generated inside the token under the URI's object label and never leaves it; the
certificate is stored in the token beside it, and in DIR/PARTICIPANT.crt.pem for handing over. Put
the same URI in the hub's configuration (hubKeyURI, GATEHUB_HUB_KEY_URI). sm2 keys (the Guangxi
profile) are files only.`,
		Args: cobra.NoArgs,
	}
	fs := c.Flags()
	participant := fs.String("participant", "", "participant id (hub, customs, province-langson, …)")
	alg := fs.String("alg", string(pki.RSA2048), "rsa-2048 | ecdsa-p256 | sm2")
	dir := fs.String("dir", "data/keys", "where to write PARTICIPANT.key.pem and PARTICIPANT.crt.pem")
	days := fs.Int("days", 730, "certificate validity in days")
	trust := fs.String("trust", "", "also add the certificate to this trust store directory")
	uri := fs.String("pkcs11", "", "generate the key in this PKCS#11 token (RFC 7512 URI) instead of a file")
	_ = c.RegisterFlagCompletionFunc("alg", fixedCompletion(string(pki.RSA2048), string(pki.ECDSAP256), string(pki.SM2)))
	c.RunE = func(c *cobra.Command, _ []string) error {
		if *participant == "" {
			return usagef("keys gen needs --participant NAME")
		}
		if *uri != "" {
			return keysGenToken(*participant, pki.Algorithm(*alg), *uri, *dir, *days, *trust, c.OutOrStdout())
		}
		return keysGen(*participant, pki.Algorithm(*alg), *dir, *days, *trust, c.OutOrStdout())
	}
	return c
}

func keysGen(participant string, alg pki.Algorithm, dir string, days int, trust string, out io.Writer) error {
	if _, err := os.Stat(filepath.Join(dir, participant+".key.pem")); err == nil {
		return fmt.Errorf("%s already has a key in %s; use keys rotate", participant, dir)
	}
	now := time.Now()
	id, err := pki.Generate(participant, alg, now.Add(-time.Minute), now.AddDate(0, 0, days))
	if err != nil {
		return err
	}
	if err := id.Save(dir); err != nil {
		return err
	}
	if trust != "" {
		if err := addToTrust(trust, participant, id, time.Time{}, time.Time{}); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "%s: key and certificate written to %s (fingerprint %s, valid until %s)\n",
		participant, dir, pki.Fingerprint(id.Cert), id.Cert.NotAfter.Format(time.DateOnly))
	return nil
}

// keysGenToken generates participant's key inside a PKCS#11 token.
func keysGenToken(participant string, alg pki.Algorithm, uri, dir string, days int, trust string, out io.Writer) error {
	u, err := pki.ParsePKCS11URI(uri)
	if err != nil {
		return usagef("--pkcs11: %w", err)
	}
	tok, err := pki.OpenToken(u)
	if err != nil {
		return err
	}
	defer tok.Close()
	now := time.Now()
	id, err := tok.Generate(u, participant, alg, now.Add(-time.Minute), now.AddDate(0, 0, days))
	if err != nil {
		return err
	}
	if err := writeCert(dir, participant, id); err != nil {
		return err
	}
	if trust != "" {
		if err := addToTrust(trust, participant, id, time.Time{}, time.Time{}); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "%s: key generated in %s (fingerprint %s, valid until %s); certificate also in %s\n",
		participant, u, pki.Fingerprint(id.Cert), id.Cert.NotAfter.Format(time.DateOnly), dir)
	return nil
}

// writeCert writes the public half of a token identity for handing over.
func writeCert(dir, participant string, id *pki.Identity) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, participant+".crt.pem"), pki.CertPEM(id.Cert), 0o644)
}

func keysImportCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "import --participant NAME --cert FILE.pem [--trust DIR] [--from T] [--until T]",
		Short: "Add a participant certificate to a trust store",
		Args:  cobra.NoArgs,
	}
	fs := c.Flags()
	participant := fs.String("participant", "", "whose certificate it is")
	certFile := fs.String("cert", "", "PEM certificate file")
	trust := fs.String("trust", "data/trust", "trust store directory")
	from := fs.String("from", "", "accept from (RFC 3339; default: certificate's NotBefore)")
	until := fs.String("until", "", "accept until (RFC 3339; default: certificate's NotAfter)")
	c.RunE = func(c *cobra.Command, _ []string) error {
		if *participant == "" || *certFile == "" {
			return usagef("keys import needs --participant NAME and --cert FILE.pem")
		}
		return keysImport(*participant, *certFile, *trust, *from, *until, c.OutOrStdout())
	}
	return c
}

func keysImport(participant, certFile, trust, from, until string, out io.Writer) error {
	data, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	cert, err := pki.ParseCertPEM(data)
	if err != nil {
		return fmt.Errorf("%s: %w", certFile, err)
	}
	var f, u time.Time
	if from != "" {
		if f, err = time.Parse(time.RFC3339, from); err != nil {
			return usagef("--from: %w", err)
		}
	}
	if until != "" {
		if u, err = time.Parse(time.RFC3339, until); err != nil {
			return usagef("--until: %w", err)
		}
	}
	if err := addToTrust(trust, participant, &pki.Identity{Participant: participant, Cert: cert}, f, u); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: certificate %s trusted in %s\n", participant, pki.Fingerprint(cert), trust)
	return nil
}

// keysRotate replaces a participant's signing key. The old certificate
// stays in the trust store with its window ending now, so every message
// signed before the rotation keeps verifying, and nothing signed later can
// use the old key.
func keysRotateCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "rotate [--participant NAME] [--dir DIR | --pkcs11 URI [--new-object LABEL]] [--trust DIR]",
		Short: "Replace a participant key, keeping the old certificate trusted for its window",
		Long: `Replace a participant's signing key. The old certificate stays in the trust store with its
window ending now, so every message signed before the rotation keeps verifying and nothing signed
later can use the old key; the old key is kept under DIR/retired/.

With --pkcs11 URI (the current key in a token) the new key is generated in the same token under
--new-object (default: the current label with the date appended); the old key stays in the token.
The command prints the new key's URI, which replaces hubKeyURI in the configuration.`,
		Args: cobra.NoArgs,
	}
	fs := c.Flags()
	participant := fs.String("participant", "hub", "participant whose key to rotate")
	alg := fs.String("alg", string(pki.RSA2048), "algorithm of the new key")
	dir := fs.String("dir", "data/keys", "key directory")
	trust := fs.String("trust", "data/trust", "trust store directory")
	days := fs.Int("days", 730, "validity of the new certificate in days")
	uri := fs.String("pkcs11", "", "the current key in a PKCS#11 token (RFC 7512 URI); the new one is made there too")
	newObject := fs.String("new-object", "", "label of the new key in the token (default: current label + date)")
	_ = c.RegisterFlagCompletionFunc("alg", fixedCompletion(string(pki.RSA2048), string(pki.ECDSAP256), string(pki.SM2)))
	c.RunE = func(c *cobra.Command, _ []string) error {
		if *uri != "" {
			return keysRotateToken(*participant, pki.Algorithm(*alg), *uri, *newObject, *dir, *trust, *days, c.OutOrStdout())
		}
		return keysRotate(*participant, pki.Algorithm(*alg), *dir, *trust, *days, c.OutOrStdout())
	}
	return c
}

func keysRotate(participant string, alg pki.Algorithm, dir, trust string, days int, out io.Writer) error {
	old, err := pki.LoadIdentity(dir, participant)
	if err != nil {
		return fmt.Errorf("current key: %w", err)
	}
	now := time.Now()
	if err := addToTrust(trust, participant, old, time.Time{}, now); err != nil {
		return err
	}
	retired := filepath.Join(dir, "retired", pki.Fingerprint(old.Cert)[:16])
	if err := old.Save(retired); err != nil {
		return fmt.Errorf("keep retired key: %w", err)
	}
	id, err := pki.Generate(participant, alg, now.Add(-time.Minute), now.AddDate(0, 0, days))
	if err != nil {
		return err
	}
	if err := id.Save(dir); err != nil {
		return err
	}
	if err := addToTrust(trust, participant, id, time.Time{}, time.Time{}); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: rotated %s → %s; the old certificate stays trusted for messages signed before %s\n",
		participant, pki.Fingerprint(old.Cert)[:16], pki.Fingerprint(id.Cert)[:16], now.UTC().Format(time.RFC3339))
	return nil
}

// keysRotateToken is keysRotate for a key in a PKCS#11 token.
func keysRotateToken(participant string, alg pki.Algorithm, uri, newObject, dir, trust string, days int, out io.Writer) error {
	u, err := pki.ParsePKCS11URI(uri)
	if err != nil {
		return usagef("--pkcs11: %w", err)
	}
	tok, err := pki.OpenToken(u)
	if err != nil {
		return err
	}
	defer tok.Close()
	old, err := tok.Identity(u, participant)
	if err != nil {
		return fmt.Errorf("current key: %w", err)
	}
	now := time.Now()
	if newObject == "" {
		newObject = u.Object + "-" + now.UTC().Format("20060102T150405")
	}
	nu := u.WithObject(newObject)
	// The new key first: a failure leaves the old one as it was, trusted.
	id, err := tok.Generate(nu, participant, alg, now.Add(-time.Minute), now.AddDate(0, 0, days))
	if err != nil {
		return err
	}
	if err := addToTrust(trust, participant, old, time.Time{}, now); err != nil {
		return err
	}
	if err := addToTrust(trust, participant, id, time.Time{}, time.Time{}); err != nil {
		return err
	}
	if err := writeCert(dir, participant, id); err != nil {
		return err
	}
	fmt.Fprintf(out, "%s: rotated %s → %s in the token; the old certificate stays trusted for messages signed before %s\nnew key: %s\n",
		participant, pki.Fingerprint(old.Cert)[:16], pki.Fingerprint(id.Cert)[:16], now.UTC().Format(time.RFC3339), nu)
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
