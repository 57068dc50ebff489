package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/conformance"
	"github.com/gatehub/gatehub/internal/hub"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/schema"
	"github.com/gatehub/gatehub/internal/sign"
	sim "github.com/gatehub/gatehub/internal/simulator"
)

func conformanceRunCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "run --agency CODE --endpoint URL [--cert AGENCY.crt.pem] [--keys-dir DIR] [-o json]",
		Short: "Test an agency's endpoint against the hub's protocol before go-live",
		Long: `Play the hub against an agency's endpoint: every conformance vector of the agency's format
(conformance-tests/vectors/CODE/valid and invalid) gets a fresh message id, is signed with the
hub's key under the agency's signature profile and POSTed exactly as the hub's outbox does (same
headers, content type and timeout). The submit is then resent as a duplicate, the amendment and
cancellation refer to the messages just sent, and four probes made from the submit (unsigned,
digest tampered, signed by an untrusted key, header id not the signed one) must be refused.

Each answer is checked as the hub reads it: the ACK/NACK is valid against the agency's XSD, its
signature verifies under the agency's profile against --cert (or the trust store), it refers to
the message sent, a resend gets the original bytes back, and every invalid vector and probe is
refused (4xx problem+json with a "code", or a NACK with a reason code), never ACKed. An agency
that answers 202 calls back on the listener this command runs (--callback-listen, reachable
from the agency as --callback-url): configure the endpoint under test to POST its answers to
the printed URL/v1/acks/CODE.

The agency trusts the hub key in --keys-dir (hub.key.pem, hub.sm2.key.pem for SM2-SM3), or the
token key GATEHUB_HUB_KEY_URI names, as the hub's: run it with the test hub key whose certificate
the agency was given. One line per check, PASS or
FAIL with the reason; -o json for scripts.`,
		Example: `  gatehubctl conformance run --agency customs --endpoint https://customs.test.example/messages \
      --cert customs.crt.pem --keys-dir data/keys
  gatehubctl conformance run --agency guangxi --endpoint http://10.0.0.5:9000/messages \
      --callback-listen :8089 --callback-url http://10.0.0.2:8089 -o json`,
		Args: cobra.NoArgs,
		Annotations: envAnnotation(`Environment:
  GATEHUB_HUB_KEY_URI  the hub's key in a PKCS#11 token (RFC 7512 URI), for agencies of the default
                       profile; without it the key files in --keys-dir. Kept out of argv on purpose.

Exit status: 0 every check passed; 2 a check failed; 1 the run could not start; 64 usage.`),
	}
	fs := c.Flags()
	o := conformanceOptions{}
	fs.StringVar(&o.agency, "agency", "", "the agency's code: "+strings.Join(agencyCodes(), ", ")+" (required)")
	fs.StringVar(&o.endpoint, "endpoint", "", "the agency's message endpoint URL (required)")
	fs.StringSliceVar(&o.certs, "cert", nil, "the agency's signing certificate, PEM (repeatable; default: the trust store)")
	fs.StringVar(&o.trustDir, "trust-dir", "data/trust", "trust store directory holding the agency's certificates, used without --cert")
	fs.StringVar(&o.keysDir, "keys-dir", "data/keys", "directory of the hub's signing keys")
	fs.StringVar(&o.vectors, "vectors", "conformance-tests/vectors", "conformance vectors directory (one subdirectory per agency)")
	fs.StringVar(&o.mappings, "mappings", "mappings", "mappings directory")
	fs.StringVar(&o.schemas, "schemas", "schemas", "schemas directory")
	fs.StringVar(&o.listen, "callback-listen", "127.0.0.1:0", "address of the listener for asynchronous answers")
	fs.StringVar(&o.callbackURL, "callback-url", "", "base URL the agency calls back on, when not the listener's own")
	fs.DurationVar(&o.ackWait, "ack-wait", conformance.DefaultAckWait, "how long to wait for each asynchronous answer")
	format := addOutputFlag(c)
	_ = c.RegisterFlagCompletionFunc("agency", fixedCompletion(agencyCodes()...))
	c.RunE = func(c *cobra.Command, _ []string) error {
		if o.agency == "" || o.endpoint == "" {
			return usagef("conformance run needs --agency CODE and --endpoint URL")
		}
		if _, ok := agencyFor(o.agency); !ok {
			return usagef("unknown agency %q (known: %s)", o.agency, strings.Join(agencyCodes(), ", "))
		}
		return conformanceRun(c, o, *format, c.OutOrStdout())
	}
	return c
}

type conformanceOptions struct {
	agency, endpoint           string
	certs                      []string
	trustDir, keysDir          string
	vectors, mappings, schemas string
	listen, callbackURL        string
	ackWait                    time.Duration
}

// agencyFor is the glue between an agency code and what the kit needs to
// know of it: its agency file (transport, signature profile) and the
// envelope layout of its format (simulators/CODE.yaml).
func agencyFor(code string) (conformance.Agency, bool) {
	for _, d := range localDefinitions() {
		if d.Spec.Name == code {
			return conformance.Agency{Spec: d.Spec, Envelope: d.Envelope}, true
		}
	}
	return conformance.Agency{}, false
}

func agencyCodes() []string {
	var out []string
	for _, d := range localDefinitions() {
		out = append(out, d.Spec.Name)
	}
	slices.Sort(out)
	return out
}

// localDefinitions are the local agency files with their simulator files
// (GATEHUB_SIMULATOR_RULES_DIR, default simulators); none when they do not
// load, which the caller reports as an unknown agency.
func localDefinitions() []sim.Definition {
	set, err := localAgencies()
	if err != nil {
		return nil
	}
	dir := os.Getenv("GATEHUB_SIMULATOR_RULES_DIR")
	if dir == "" {
		dir = "simulators"
	}
	defs, _ := sim.Definitions(set, dir)
	return defs
}

func conformanceRun(c *cobra.Command, o conformanceOptions, format outputFormat, out io.Writer) error {
	ag, _ := agencyFor(o.agency)
	signer, closeKey, err := hubSigner(o.keysDir, ag.Spec.SignatureProfile())
	if err != nil {
		return err
	}
	defer closeKey()
	trust, err := agencyTrust(o)
	if err != nil {
		return err
	}
	reg, err := mapping.Load(o.mappings)
	if err != nil {
		return err
	}
	schemas, err := schema.Load(o.schemas)
	if err != nil {
		return err
	}
	defer schemas.Close()
	inbox, err := conformance.StartInbox(c.Context(), o.listen, o.callbackURL)
	if err != nil {
		return err
	}
	defer inbox.Close()
	rep, err := conformance.Run(c.Context(), conformance.Config{
		Agency: ag, Endpoint: o.endpoint, VectorsDir: filepath.Join(o.vectors, o.agency),
		Mappings: reg, Schemas: schemas, Signer: signer, Trust: trust,
		Client: &http.Client{}, Inbox: inbox, AckWait: o.ackWait,
	})
	if err != nil {
		return err
	}
	if format == outputJSON {
		err = rep.WriteJSON(out)
	} else {
		err = rep.WriteText(out)
	}
	if err != nil {
		return err
	}
	if !rep.OK() {
		return exitError(exitProblems)
	}
	return nil
}

// hubSigner signs as the hub under profile: with the token key
// GATEHUB_HUB_KEY_URI names (as gatehubd does; the URI may carry a PIN, so
// it never comes on the command line), else with the key file the hub
// keeps for that profile in keysDir.
func hubSigner(keysDir string, profile sign.Profile) (*sign.Signer, func(), error) {
	if uri := os.Getenv("GATEHUB_HUB_KEY_URI"); uri != "" && app.HubKeyFile(profile) == hub.Participant {
		id, closeToken, err := pki.LoadPKCS11Identity(uri, hub.Participant)
		if err != nil {
			return nil, nil, fmt.Errorf("the hub's key in GATEHUB_HUB_KEY_URI: %w", err)
		}
		s, err := sign.NewProfileSigner(id, profile)
		if err != nil {
			_ = closeToken()
			return nil, nil, err
		}
		return s, func() { _ = closeToken() }, nil
	}
	id, err := pki.LoadIdentityAs(keysDir, app.HubKeyFile(profile), hub.Participant)
	if err != nil {
		return nil, nil, fmt.Errorf("the hub's key for profile %s: %w", profile.Name, err)
	}
	s, err := sign.NewProfileSigner(id, profile)
	if err != nil {
		return nil, nil, err
	}
	return s, func() {}, nil
}

// agencyTrust is the agency's certificates: the --cert files, or its
// entries in the trust store directory.
func agencyTrust(o conformanceOptions) (*pki.TrustStore, error) {
	if len(o.certs) == 0 {
		ts, err := pki.LoadTrustStore(o.trustDir)
		if err != nil {
			return nil, fmt.Errorf("trust store: %w", err)
		}
		if len(ts.All(o.agency)) == 0 {
			return nil, fmt.Errorf("no certificate of %s in %s: pass the agency's certificate with --cert", o.agency, o.trustDir)
		}
		return ts, nil
	}
	ts := pki.NewTrustStore()
	for _, f := range o.certs {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("agency certificate: %w", err)
		}
		cert, err := pki.ParseCertPEM(data)
		if err != nil {
			return nil, fmt.Errorf("agency certificate %s: %w", f, err)
		}
		ts.Add(o.agency, cert, time.Time{}, time.Time{})
	}
	return ts, nil
}
