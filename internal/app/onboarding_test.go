package app_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/app/apptest"
	"github.com/gatehub/gatehub/internal/audit"
	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/pki"
	"github.com/gatehub/gatehub/internal/views"
)

// The sixth agency: border health quarantine (kiểm dịch y tế biên giới),
// onboarded with data files only — its agency file, XSD, mappings,
// simulator rules and one gate policy line — into a copy of the shipped
// configuration.
var sixthAgency = map[string]string{
	"deploy/agencies/healthquarantine.yaml": `code: healthquarantine
names:
  vi: Kiểm dịch y tế biên giới
  en: Border Health Quarantine
ackDeadline: 10m
receives: [submit, amend, cancel]
sends: [HOLD, RELEASE]
forward:
  HOLD: [borderguard]
reasons:
  HQ-CREW-UNNAMED: {vi: thành viên tổ lái không có tên, en: a crew member has no name}
`,
	"schemas/healthquarantine/health-notice-1.0.xsd": `<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema"
           xmlns:ds="http://www.w3.org/2000/09/xmldsig#"
           xmlns="urn:gatehub:healthquarantine:health-notice:1"
           targetNamespace="urn:gatehub:healthquarantine:health-notice:1"
           elementFormDefault="qualified" version="1.0">
  <xs:include schemaLocation="../common/types-1.0.xsd"/>
  <xs:import namespace="http://www.w3.org/2000/09/xmldsig#" schemaLocation="../xmldsig/xmldsig-core-schema.xsd"/>
  <xs:complexType name="NoticeType">
    <xs:sequence>
      <xs:element name="GateCode" type="GateCodeType"/>
      <xs:element name="VehiclePlate" type="PlateType"/>
      <xs:element name="Person" maxOccurs="unbounded">
        <xs:complexType>
          <xs:sequence>
            <xs:element name="Name" type="NameType"/>
            <xs:element name="Nationality" type="CountryCodeType"/>
          </xs:sequence>
        </xs:complexType>
      </xs:element>
    </xs:sequence>
  </xs:complexType>
  <xs:element name="HealthNoticeSubmit"><xs:complexType><xs:sequence>
    <xs:element name="Header" type="SubmitHeaderType"/><xs:element name="Notice" type="NoticeType"/>
    <xs:element ref="ds:Signature" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
  <xs:element name="HealthNoticeAmend"><xs:complexType><xs:sequence>
    <xs:element name="Header" type="AmendHeaderType"/><xs:element name="Notice" type="NoticeType"/>
    <xs:element ref="ds:Signature" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
  <xs:element name="HealthNoticeCancel"><xs:complexType><xs:sequence>
    <xs:element name="Header" type="CancelHeaderType"/><xs:element name="Cancellation" type="CancellationType"/>
    <xs:element ref="ds:Signature" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
  <xs:element name="HealthNoticeResponse"><xs:complexType><xs:sequence>
    <xs:element name="Header" type="ResponseHeaderType"/><xs:element name="Response" type="ResponseType"/>
    <xs:element ref="ds:Signature" minOccurs="0"/></xs:sequence></xs:complexType></xs:element>
</xs:schema>
`,
	"mappings/healthquarantine/submit.yaml": `agency: healthquarantine
kind: submit
mappingVersion: "1.0.0"
schema: healthquarantine/health-notice-1.0.xsd
schemaVersion: "1.0"
root: HealthNoticeSubmit
namespace: urn:gatehub:healthquarantine:health-notice:1
envelope: Header
rules:
  - {path: Header/MessageID, source: message.id}
  - {path: Header/Sender, source: message.sender}
  - {path: Header/Receiver, source: message.receiver}
  - {path: Header/MessageFunction, source: message.kind}
  - {path: Header/CreatedAt, source: message.createdAt, transform: datetime}
  - {path: Header/DeclarationReference, source: message.declarationId}
  - {path: Header/DeclarationVersion, source: message.version}
  - {path: Notice/GateCode, source: declaration.gate}
  - {path: Notice/VehiclePlate, source: declaration.vehicle.plateVN|declaration.vehicle.plateCN}
  - path: Notice/Person
    each: declaration.drivers
    rules:
      - {path: Name, source: item.name}
      - {path: Nationality, source: item.nationality}
`,
	"mappings/healthquarantine/amend.yaml": `extends: submit.yaml
kind: amend
root: HealthNoticeAmend
rules:
  - {path: Header/PreviousMessageID, source: message.previousId}
`,
	"mappings/healthquarantine/cancel.yaml": `agency: healthquarantine
kind: cancel
mappingVersion: "1.0.0"
schema: healthquarantine/health-notice-1.0.xsd
schemaVersion: "1.0"
root: HealthNoticeCancel
namespace: urn:gatehub:healthquarantine:health-notice:1
envelope: Header
rules:
  - {path: Header/MessageID, source: message.id}
  - {path: Header/Sender, source: message.sender}
  - {path: Header/Receiver, source: message.receiver}
  - {path: Header/MessageFunction, source: message.kind}
  - {path: Header/CreatedAt, source: message.createdAt, transform: datetime}
  - {path: Header/DeclarationReference, source: message.declarationId}
  - {path: Header/DeclarationVersion, source: message.version}
  - {path: Header/PreviousMessageID, source: message.previousId}
  - {path: Cancellation/Reason, source: message.reason, default: "Cancelled by the declarant"}
`,
	"mappings/healthquarantine/ack.yaml": `agency: healthquarantine
kind: ack
mappingVersion: "1.0.0"
schema: healthquarantine/health-notice-1.0.xsd
schemaVersion: "1.0"
root: HealthNoticeResponse
namespace: urn:gatehub:healthquarantine:health-notice:1
envelope: Header
rules:
  - {path: Header/MessageID, source: message.id}
  - {path: Header/Sender, source: message.sender}
  - {path: Header/Receiver, source: message.receiver}
  - {path: Header/MessageFunction, const: response}
  - {path: Header/CreatedAt, source: message.createdAt, transform: datetime}
  - {path: Header/DeclarationReference, source: message.declarationId, optional: true}
  - {path: Header/DeclarationVersion, source: message.version, optional: true}
  - {path: Response/AckID, source: ack.ackId}
  - {path: Response/ReferencedMessageID, source: ack.refMessageId}
  - {path: Response/Status, source: ack.status}
  - {path: Response/IssuedAt, source: ack.issuedAt, transform: datetime}
  - path: Response/Reason
    optional: true
    rules:
      - {path: Code, source: ack.reasonCode, optional: true}
      - {path: Text, source: ack.reasonText, optional: true}
`,
	"simulators/healthquarantine.yaml": `agency: healthquarantine
rules:
  - name: crew-named
    each: Notice/Person
    checks:
      - {required: Name, code: HQ-CREW-UNNAMED, text: "crew member {n} has no name"}
`,
}

// copyTree copies the files under src/rel to dst/rel.
func copyTree(t *testing.T, src, dst, rel string) {
	t.Helper()
	err := filepath.WalkDir(filepath.Join(src, rel), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		r, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, r), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, r), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// onboardSixth writes a copy of the shipped configuration with the sixth
// agency added, and returns its root.
func onboardSixth(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, rel := range []string{"deploy/agencies", "deploy/gates", "deploy/tokens.dev.yaml", "mappings", "schemas", "simulators"} {
		copyTree(t, repoRoot, root, rel)
	}
	for rel, content := range sixthAgency {
		path := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The gate policy line: at Hữu Nghị, every export also needs it.
	gatePath := filepath.Join(root, "deploy/gates/huunghi.yaml")
	g, err := os.ReadFile(gatePath)
	if err != nil {
		t.Fatal(err)
	}
	edited := bytes.Replace(g, []byte("agencies: [customs, borderguard, vehicleregistry, guangxi, plantquarantine]"),
		[]byte("agencies: [customs, borderguard, vehicleregistry, guangxi, plantquarantine, healthquarantine]"), 1)
	edited = bytes.Replace(edited, []byte("    - direction: export\n      agencies: [customs, borderguard, vehicleregistry, guangxi]"),
		[]byte("    - direction: export\n      agencies: [customs, borderguard, vehicleregistry, guangxi, healthquarantine]"), 1)
	if bytes.Count(edited, []byte("healthquarantine")) != 2 {
		t.Fatal("the gate policy lines to extend were not found in deploy/gates/huunghi.yaml")
	}
	if err := os.WriteFile(gatePath, edited, 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// runGatehubd starts the real server binary on root's data files with the
// simulators (the embedded demo) and returns its URL once it serves.
func runGatehubd(t *testing.T, bin, root string, extra ...string) string {
	t.Helper()
	addr := reserveAddr(t)
	env := append(cleanEnv(),
		"GATEHUB_ADDR="+addr,
		"GATEHUB_DATA_DIR="+filepath.Join(t.TempDir(), "data"),
		"GATEHUB_GATES_DIR="+filepath.Join(root, "deploy/gates"),
		"GATEHUB_AGENCIES_DIR="+filepath.Join(root, "deploy/agencies"),
		"GATEHUB_MAPPINGS_DIR="+filepath.Join(root, "mappings"),
		"GATEHUB_SCHEMAS_DIR="+filepath.Join(root, "schemas"),
		"GATEHUB_SIMULATOR_RULES_DIR="+filepath.Join(root, "simulators"),
		"GATEHUB_TOKENS_FILE="+filepath.Join(root, "deploy/tokens.dev.yaml"),
		"GATEHUB_DELIVERY_POLL=50ms",
		"GATEHUB_LOG_FORMAT=json",
	)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = append(env, extra...)
	cmd.Dir = t.TempDir()
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 10 * time.Second
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	serving := make(chan struct{})
	var log bytes.Buffer
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		once := false
		for sc.Scan() {
			log.WriteString(sc.Text() + "\n")
			if !once && strings.Contains(sc.Text(), `"msg":"gatehub serving"`) {
				once = true
				close(serving)
			}
		}
	}()
	select {
	case <-serving:
	case <-time.After(60 * time.Second):
		t.Fatalf("gatehubd did not start serving:\n%s", log.String())
	}
	return "http://" + addr
}

func call(t *testing.T, method, url, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// TestSixthAgencyFromDataOnly onboards an agency with data files only and
// drives a declaration needing it (and plant quarantine: fresh fruit) to
// CLEARED through the real gatehubd binary over HTTP, with the simulators
// answering synchronously and by callback.
func TestSixthAgencyFromDataOnly(t *testing.T) {
	bin := gatehubd(t)
	root := onboardSixth(t)
	for _, mode := range []string{"sync", "async"} {
		t.Run(mode, func(t *testing.T) {
			url := runGatehubd(t, bin, root, "GATEHUB_SIMULATOR_MODE="+mode)

			// The hub knows six agencies, from their files.
			status, data := call(t, "GET", url+"/v1/admin/agencies", operatorToken, nil)
			if status != http.StatusOK || !strings.Contains(string(data), `"healthquarantine"`) {
				t.Fatalf("GET /v1/admin/agencies: %d %s", status, data)
			}
			body := sample(t, func(m map[string]any) {
				m["cargoKind"] = "perishable"
				m["plannedCrossing"] = time.Now().Add(time.Hour).Format(time.RFC3339)
			})
			status, data = call(t, "POST", url+"/v1/declarations", traderToken, body)
			if status != http.StatusCreated {
				t.Fatalf("submit: %d %s", status, data)
			}
			var v views.DeclarationView
			if err := json.Unmarshal(data, &v); err != nil {
				t.Fatal(err)
			}
			want := []string{"borderguard", "customs", "guangxi", "healthquarantine", "plantquarantine", "vehicleregistry"}
			if got := slices.Sorted(slices.Values(v.Required)); !slices.Equal(got, want) {
				t.Fatalf("required agencies = %v, want %v", got, want)
			}
			deadline := time.Now().Add(60 * time.Second)
			for {
				status, data = call(t, "GET", url+"/v1/declarations/"+v.ID, traderToken, nil)
				if status != http.StatusOK {
					t.Fatalf("get declaration: %d %s", status, data)
				}
				if err := json.Unmarshal(data, &v); err != nil {
					t.Fatal(err)
				}
				if v.Decision.Status != "PENDING" || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond) // polling a condition, with a deadline
			}
			if v.Decision.Status != "CLEARED" {
				t.Fatalf("decision %s, want CLEARED: %+v", v.Decision.Status, v.Decision.Reasons)
			}
			if r := v.Decision.Reasons; len(r) != 1 || !strings.Contains(r[0].EN, "Border Health Quarantine") || !strings.Contains(r[0].VI, "Kiểm dịch y tế biên giới") {
				t.Errorf("cleared reason names the new agency from its file? %+v", r)
			}
			// One message per agency, each acknowledged; the new agency's
			// signed XML passes its new XSD under xmllint, an independent
			// validator.
			acked := map[string]int{}
			for _, m := range v.Messages {
				if m.State == "acked" {
					acked[m.Agency]++
				}
				if m.Agency != "healthquarantine" {
					continue
				}
				status, xml := call(t, "GET", url+"/v1/messages/"+m.ID, traderToken, nil)
				if status != http.StatusOK {
					t.Fatalf("get message: %d %s", status, xml)
				}
				if out, err := xmllintOnly(filepath.Join(root, "schemas/healthquarantine/health-notice-1.0.xsd"), xml); err != nil {
					t.Fatalf("xmllint refused the new agency's message: %v\n%s\n%s", err, out, xml)
				}
			}
			for _, a := range want {
				if acked[a] != 1 {
					t.Errorf("agency %s: %d acked messages, want 1 (%v)", a, acked[a], acked)
				}
			}
		})
	}
}

// xmllintOnly validates doc against xsd with the xmllint CLI.
func xmllintOnly(xsd string, doc []byte) (string, error) {
	cmd := exec.Command("xmllint", "--noout", "--nonet", "--schema", xsd, "-")
	cmd.Stdin = bytes.NewReader(doc)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("xmllint: %w", err)
	}
	return string(out), nil
}

// TestProductionWithoutEndpointsRefusesToStart: the real server, configured
// as a deployment (simulators off) with no agency endpoint, exits at once
// naming every agency without one, and has trusted no simulator
// certificate (its trust store holds no agency).
func TestProductionWithoutEndpointsRefusesToStart(t *testing.T) {
	bin := gatehubd(t)
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		t.Fatal(err)
	}
	trustDir := filepath.Join(t.TempDir(), "trust")
	cmd := exec.Command(bin)
	cmd.Dir = t.TempDir()
	cmd.Env = append(cleanEnv(),
		"GATEHUB_ADDR="+reserveAddr(t),
		"GATEHUB_DATA_DIR="+filepath.Join(t.TempDir(), "data"),
		"GATEHUB_TRUST_DIR="+trustDir,
		"GATEHUB_SIMULATORS=false",
		"GATEHUB_GATES_DIR="+filepath.Join(root, "deploy/gates"),
		"GATEHUB_AGENCIES_DIR="+filepath.Join(root, "deploy/agencies"),
		"GATEHUB_MAPPINGS_DIR="+filepath.Join(root, "mappings"),
		"GATEHUB_SCHEMAS_DIR="+filepath.Join(root, "schemas"),
		"GATEHUB_TOKENS_FILE="+filepath.Join(root, "deploy/tokens.dev.yaml"),
	)
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("gatehubd without agency endpoints kept running")
	}
	if err == nil {
		t.Fatalf("gatehubd started without agency endpoints:\n%s", out)
	}
	for _, a := range apptest.Agencies(t, repoRoot).Strings() {
		if want := "no endpoint for agency " + a + " (GATEHUB_AGENCY_" + strings.ToUpper(a) + "_URL"; !strings.Contains(string(out), want) {
			t.Errorf("output does not name %s's endpoint (%q):\n%s", a, want, out)
		}
	}
	if entries, _ := os.ReadDir(trustDir); len(entries) > 0 {
		names := []string{}
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("trust store written by a hub that did not start: %v", names)
	}
}

// TestReloadAgencies: a changed agency file is applied without restart; an
// invalid set is refused with every problem at its file:line:col, and one
// that adds an agency is refused with the reason; either way the set in
// force stays, and the refusal is in the audit log.
func TestReloadAgencies(t *testing.T) {
	root := t.TempDir()
	copyTree(t, repoRoot, root, "deploy/agencies")
	dir := filepath.Join(root, "deploy/agencies")
	h := startWith(t, setup{config: func(c *config.Config) { c.AgenciesDir = dir }})
	reload := func() (int, []byte) {
		resp, data := h.do("POST", "/v1/admin/agencies/reload", "dev-admin", nil, "")
		return resp.StatusCode, data
	}
	names := func() string {
		resp, data := h.do("GET", "/v1/admin/agencies", operatorToken, nil, "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("list agencies: %d %s", resp.StatusCode, data)
		}
		return string(data)
	}
	write := func(name, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pq, err := os.ReadFile(filepath.Join(dir, "plantquarantine.yaml"))
	if err != nil {
		t.Fatal(err)
	}

	// Only an admin reloads.
	if resp, _ := h.do("POST", "/v1/admin/agencies/reload", operatorToken, nil, ""); resp.StatusCode != http.StatusForbidden {
		t.Fatalf("operator reload: %d, want 403", resp.StatusCode)
	}
	// A changed name is in force at once.
	write("plantquarantine.yaml", strings.Replace(string(pq), "en: Plant Quarantine", "en: Plant Protection and Quarantine", 1))
	if status, data := reload(); status != http.StatusOK || !strings.Contains(string(data), "Plant Protection and Quarantine") {
		t.Fatalf("reload: %d %s", status, data)
	}
	if en, _ := h.app.Agencies.Current().Name("plantquarantine"); en != "Plant Protection and Quarantine" {
		t.Fatalf("name in force = %q", en)
	}

	// Two problems in two files: both reported, nothing swapped.
	write("plantquarantine.yaml", strings.Replace(string(pq), "ackDeadline: 30m", "ackDeadline: forever", 1))
	cus, _ := os.ReadFile(filepath.Join(dir, "customs.yaml"))
	write("customs.yaml", strings.Replace(string(cus), "HOLD: [borderguard]", "HOLD: [police]", 1))
	status, data := reload()
	if status != http.StatusUnprocessableEntity {
		t.Fatalf("invalid reload: %d %s", status, data)
	}
	for _, want := range []string{
		"customs.yaml:16:10: forward.HOLD[0]: unknown agency \\\"police\\\"",
		"plantquarantine.yaml:12:14: ackDeadline: must be a Go duration",
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("refusal lacks %s:\n%s", want, data)
		}
	}
	if !strings.Contains(names(), "Plant Protection and Quarantine") {
		t.Error("an invalid set replaced the one in force")
	}
	write("customs.yaml", string(cus))
	write("plantquarantine.yaml", string(pq))

	// A new agency needs a restart: refused, saying so.
	write("newagency.yaml", "code: newagency\nnames: {vi: Mới, en: New}\nackDeadline: 5m\nreceives: [submit]\n")
	if status, data := reload(); status != http.StatusUnprocessableEntity || !strings.Contains(string(data), "restart the hub") {
		t.Fatalf("reload adding an agency: %d %s", status, data)
	}
	if strings.Contains(names(), "newagency") {
		t.Error("a reload added an agency")
	}
	if n := len(h.audit("kind=" + audit.KindConfigRefused)); n < 2 {
		t.Errorf("%d config.refused audit entries, want the two refusals", n)
	}
}

// TestAgencyFileCertificatesTrusted: the certificates an agency file lists
// are trusted for that agency, and only for it.
func TestAgencyFileCertificatesTrusted(t *testing.T) {
	root := t.TempDir()
	copyTree(t, repoRoot, root, "deploy/agencies")
	dir := filepath.Join(root, "deploy/agencies")
	id, err := pki.Generate("customs", pki.ECDSAP256, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "customs-2027.pem"), pki.CertPEM(id.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	cus, err := os.ReadFile(filepath.Join(dir, "customs.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "customs.yaml"), append(cus, "certificates: [customs-2027.pem]\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	h := startWith(t, setup{config: func(c *config.Config) { c.AgenciesDir = dir }})
	fp := pki.Fingerprint(id.Cert)
	has := func(p string) bool {
		return slices.ContainsFunc(h.app.Trust.All(p), func(c *x509.Certificate) bool { return pki.Fingerprint(c) == fp })
	}
	if !has("customs") {
		t.Error("the agency file's certificate is not trusted for customs")
	}
	if has("borderguard") || has("hub") {
		t.Error("the agency file's certificate is trusted for another participant")
	}
}
