package simulator

import (
	"bytes"
	"context"
	"github.com/gatehub/gatehub/internal/message"
	"github.com/gatehub/gatehub/internal/outbox"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"

	"github.com/gatehub/gatehub/adapters/agency"
	"github.com/gatehub/gatehub/internal/mapping"
	"github.com/gatehub/gatehub/internal/pki"
)

func TestResendReturnsOriginalAckBytes(t *testing.T) {
	clock := simNow
	r := newRig(t, "customs", func(c *Config) { c.Now = func() time.Time { return clock } })
	body := r.build("submit", "M-RESEND", loadDeclaration(t, "huu-nghi-export.json"), nil)
	first := r.post("M-RESEND", body)
	// The agency clock moves on: a freshly built ACK would carry a new
	// IssuedAt and, with ECDSA, a new signature value.
	clock = clock.Add(time.Hour)
	second := r.post("M-RESEND", body)
	if first.Status != 200 || second.Status != 200 {
		t.Fatalf("statuses %d, %d", first.Status, second.Status)
	}
	if !bytes.Equal(first.Body, second.Body) {
		t.Fatalf("resend got different ACK bytes:\n%s\n---\n%s", first.Body, second.Body)
	}
	if n := r.sim.Deliveries("M-RESEND"); n != 2 {
		t.Fatalf("deliveries = %d, want 2", n)
	}
	st := r.sim.Stats()["M-RESEND"]
	if !st.First.Equal(simNow) || !st.Last.Equal(clock) {
		t.Fatalf("first/last = %v/%v", st.First, st.Last)
	}
}

func TestRefusals(t *testing.T) {
	r := newRig(t, "customs", nil)
	decl := loadDeclaration(t, "huu-nghi-export.json")
	good := r.build("submit", "M-R1", decl, nil)

	stranger := newSigner(t, newIdentity(t, HubParticipant)) // right name, untrusted key
	doc, _, err := r.reg.Build("customs", "submit", decl, mapping.Envelope{
		MessageID: "M-R2", Sender: HubParticipant, Receiver: "customs", DeclarationID: "D-1", Version: 1, CreatedAt: simNow,
	}, testGate(t, decl.Gate))
	if err != nil {
		t.Fatal(err)
	}
	byStranger, err := stranger.Sign(doc)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name       string
		msgID      string
		body       []byte
		wantStatus int
		wantCode   string
	}{
		{"not xml", "M-R0", []byte("this is not <xml"), 400, CodeMalformed},
		{"unsigned", "M-R1", stripSignature(t, good), 422, CodeSignatureInvalid},
		{"tampered after signing", "M-R1", bytes.Replace(good, []byte("Fresh durians"), []byte("Fresh bananas"), 1), 422, CodeSignatureInvalid},
		{"signed by an untrusted key", "M-R2", byStranger, 422, CodeSignatureInvalid},
		{"schema invalid but correctly signed", "M-R3", r.build("submit", "M-R3", decl, func(d *etree.Document) {
			d.FindElement("//Classification/ID").SetText("08-10-60")
		}), 422, CodeSchemaInvalid},
		{"header id differs from signed envelope", "M-OTHER", good, 422, CodeMessageIDClash},
		{"addressed to another agency", "M-R4", r.build("submit", "M-R4", decl, func(d *etree.Document) {
			d.FindElement("//Header/Receiver").SetText("borderguard")
		}), 422, CodeWrongReceiver},
		{"an ack is not an inbound message", "M-R5", r.signAck(t, "M-R5"), 422, CodeUnknownMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := r.post(tt.msgID, tt.body)
			if resp.Status != tt.wantStatus || problemCode(t, resp) != tt.wantCode {
				t.Fatalf("got %d %s, want %d %s", resp.Status, resp.Body, tt.wantStatus, tt.wantCode)
			}
			if agency.Classify(resp, nil) != outbox.Permanent {
				t.Fatal("a refusal must classify as permanent")
			}
			if st := r.sim.Stats()[tt.msgID]; st.Refused != tt.wantCode || st.Status != "" {
				t.Fatalf("stats = %+v", st)
			}
		})
	}

	t.Run("no message id header", func(t *testing.T) {
		resp, err := http.Post(r.http.URL+"/messages", agency.DefaultContentType, bytes.NewReader(good))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	t.Run("refusal is not remembered: a corrected resend is answered", func(t *testing.T) {
		if resp := r.post("M-R1", good); resp.Status != 200 {
			t.Fatalf("status %d: %s", resp.Status, resp.Body)
		}
	})
}

// signAck makes a correctly hub-signed document whose root is the agency's
// response type.
func (r *rig) signAck(t *testing.T, msgID string) []byte {
	doc, _, err := r.reg.BuildAck(r.agency, mapping.AckFields{AckID: msgID, RefMessageID: "X", Status: "ACK", IssuedAt: simNow},
		mapping.Envelope{MessageID: msgID, Sender: HubParticipant, Receiver: r.agency, CreatedAt: simNow})
	if err != nil {
		t.Fatal(err)
	}
	b, err := r.hubSigner.Sign(doc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func stripSignature(t *testing.T, signed []byte) []byte {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(signed); err != nil {
		t.Fatal(err)
	}
	for _, s := range doc.Root().SelectElements("Signature") {
		doc.Root().RemoveChild(s)
	}
	b, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFailFirst(t *testing.T) {
	r := newRig(t, "customs", func(c *Config) { c.FailFirst = 2; c.RetryAfter = 2 * time.Second })
	body := r.build("submit", "M-FF", loadDeclaration(t, "huu-nghi-export.json"), nil)
	var got []int
	for range 3 {
		resp := r.post("M-FF", body)
		got = append(got, resp.Status)
		if resp.Status == 503 && (resp.RetryAfter != 2*time.Second || agency.Classify(resp, nil) != outbox.Temporary) {
			t.Fatalf("503 answer %+v", resp)
		}
	}
	if want := []int{503, 503, 200}; !equalInts(got, want) {
		t.Fatalf("statuses %v, want %v", got, want)
	}
	st := r.sim.Stats()["M-FF"]
	if st.Attempts != 3 || st.Injected != 2 || st.Status != "ACK" {
		t.Fatalf("stats = %+v", st)
	}
	// FailFirst counts per message id: a new message fails twice too.
	other := r.build("submit", "M-FF2", loadDeclaration(t, "huu-nghi-export.json"), nil)
	if resp := r.post("M-FF2", other); resp.Status != 503 {
		t.Fatalf("new message: status %d", resp.Status)
	}
}

func TestFailFirstThroughRetryingClient(t *testing.T) {
	r := newRig(t, "customs", func(c *Config) { c.FailFirst = 2 })
	body := r.build("submit", "M-RC", loadDeclaration(t, "huu-nghi-export.json"), nil)
	client := agency.NewRetryingClient(agency.RetryOptions{MaxRetries: 3, WaitMin: time.Millisecond, WaitMax: 5 * time.Millisecond, Seed: 7})
	resp, err := agency.NewTransport(client).Post(context.Background(), agency.Spec{Name: "customs"}, r.http.URL+"/messages", "M-RC", body)
	if err != nil || resp.Status != 200 || agency.Classify(resp, err) != outbox.Delivered {
		t.Fatalf("%+v %v", resp, err)
	}
	if r.readAck(resp.Body).Status != "ACK" || r.sim.Deliveries("M-RC") != 3 {
		t.Fatalf("deliveries %d", r.sim.Deliveries("M-RC"))
	}
}

func TestFailRateIsSeeded(t *testing.T) {
	run := func() []int {
		r := newRig(t, "customs", func(c *Config) { c.FailRate = 0.5; c.Seed = 42 })
		body := r.build("submit", "M-FR", loadDeclaration(t, "huu-nghi-export.json"), nil)
		var out []int
		for range 8 {
			out = append(out, r.post("M-FR", body).Status)
		}
		return out
	}
	a, b := run(), run()
	if !equalInts(a, b) {
		t.Fatalf("same seed, different outages: %v vs %v", a, b)
	}
	if !containsInt(a, 503) || !containsInt(a, 200) {
		t.Fatalf("rate 0.5 over 8 attempts gave %v", a)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func containsInt(a []int, v int) bool {
	for _, x := range a {
		if x == v {
			return true
		}
	}
	return false
}

// hubCallback is a stand-in for the hub's /v1/acks/{agency} endpoint.
type hubCallback struct {
	srv      *httptest.Server
	received chan []byte
	fail     chan int // statuses to answer before accepting, consumed in order
}

func newHubCallback(t *testing.T, agencyName string) *hubCallback {
	h := &hubCallback{received: make(chan []byte, 8), fail: make(chan int, 8)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/acks/"+agencyName || r.Method != http.MethodPost ||
			!strings.HasPrefix(r.Header.Get("Content-Type"), "application/xml") {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		select {
		case st := <-h.fail:
			w.WriteHeader(st)
			return
		default:
		}
		b, _ := io.ReadAll(r.Body)
		h.received <- b
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hubCallback) next(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-h.received:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no callback within 10s")
		return nil
	}
}

func TestAsyncCallback(t *testing.T) {
	hub := newHubCallback(t, "customs")
	hub.fail <- http.StatusServiceUnavailable // the first callback hits a hub restart
	done := make(chan error, 4)
	r := newRig(t, "customs", func(c *Config) {
		c.Mode = ModeAsync
		c.CallbackURL = hub.srv.URL
		c.CallbackBackoff = time.Millisecond
		c.OnCallback = func(_ string, err error) { done <- err }
	})
	body := r.build("submit", "M-AS", loadDeclaration(t, "huu-nghi-export.json"), nil)
	resp := r.post("M-AS", body)
	if resp.Status != http.StatusAccepted || !resp.Async || len(resp.Body) != 0 || agency.Classify(resp, nil) != outbox.Delivered {
		t.Fatalf("response %+v", resp)
	}
	ack := hub.next(t)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if a := r.readAck(ack); a.RefMessageID != "M-AS" || a.Status != "ACK" {
		t.Fatalf("ack %+v", a)
	}
	// A resend is accepted again and the callback repeats the same bytes.
	if resp := r.post("M-AS", body); resp.Status != http.StatusAccepted {
		t.Fatalf("resend status %d", resp.Status)
	}
	if again := hub.next(t); !bytes.Equal(again, ack) {
		t.Fatal("resent callback differs from the original")
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if st := r.sim.Stats()["M-AS"]; st.Callbacks != 2 || st.CallbackError != "" {
		t.Fatalf("stats = %+v", st)
	}
}

func TestSilentModeThenRecovery(t *testing.T) {
	r := newRig(t, "customs", func(c *Config) { c.Mode = ModeSilent })
	body := r.build("submit", "M-SI", loadDeclaration(t, "huu-nghi-export.json"), nil)
	if resp := r.post("M-SI", body); resp.Status != http.StatusAccepted {
		t.Fatalf("status %d", resp.Status)
	}
	if _, ok := r.sim.Ack("M-SI"); ok {
		t.Fatal("silent mode stored an answer")
	}
	// The operator switches the agency back on; the hub's resend after its
	// ACK deadline now gets an answer.
	req, _ := http.NewRequest(http.MethodPut, r.http.URL+"/config", strings.NewReader(`{"mode":"sync"}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("PUT /config: %d", resp.StatusCode)
	}
	if got := r.post("M-SI", body); got.Status != 200 || r.readAck(got.Body).Status != "ACK" {
		t.Fatalf("after recovery: %d %s", got.Status, got.Body)
	}
}

func TestConfigEndpoint(t *testing.T) {
	r := newRig(t, "customs", nil)
	put := func(body string) int {
		req, _ := http.NewRequest(http.MethodPut, r.http.URL+"/config", strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		body string
		want int
	}{
		{`{"mode":"async","delay":"250ms","failFirst":1,"failRate":0.1,"retryAfter":"3s","callbackUrl":"http://127.0.0.1:8080"}`, 200},
		{`{"mode":"chaos"}`, 422},
		{`{"failRate":2}`, 422},
		{`{"delay":"soon"}`, 422},
		{`{"failFirst":-1}`, 422},
		{`{"unknown":1}`, 400},
	}
	for _, tt := range tests {
		if got := put(tt.body); got != tt.want {
			t.Errorf("PUT %s = %d, want %d", tt.body, got, tt.want)
		}
	}
	var cfg map[string]any
	getJSON(t, r.http.URL+"/config", &cfg)
	// Refused updates changed nothing.
	if cfg["mode"] != "async" || cfg["delay"] != "250ms" || cfg["failFirst"] != 1.0 || cfg["failRate"] != 0.1 || cfg["retryAfter"] != "3s" {
		t.Fatalf("config = %v", cfg)
	}
}

func TestStatsEndpoint(t *testing.T) {
	r := newRig(t, "customs", nil)
	body := r.build("submit", "M-ST", loadDeclaration(t, "huu-nghi-export.json"), nil)
	r.post("M-ST", body)
	r.post("M-ST", body)
	var stats map[string]MessageStats
	getJSON(t, r.http.URL+"/stats", &stats)
	if st := stats["M-ST"]; st.Attempts != 2 || st.Status != "ACK" || st.AckID != AckID("customs", "M-ST") {
		t.Fatalf("stats = %+v", stats)
	}
}

func TestCancelIsAckedAndAmendIsChecked(t *testing.T) {
	r := newRig(t, "customs", nil)
	for _, k := range []message.Kind{message.Amend, message.Cancel} {
		if _, ok := r.reg.Info("customs", k); !ok {
			t.Skipf("no customs %s mapping", k)
		}
	}
	d := loadDeclaration(t, "huu-nghi-export.json")
	d.Consignments[0].HSCodeVN = "93011000"
	amend := r.post("M-AM", r.build(message.Amend, "M-AM", d, nil))
	if a := r.readAck(amend.Body); a.Status != "NACK" || a.ReasonCode != "CUS-HS-PROHIBITED" {
		t.Fatalf("amend answer %+v", a)
	}
	// The same prohibited goods do not matter once the truck is withdrawn.
	cancel := r.post("M-CA", r.build(message.Cancel, "M-CA", d, nil))
	if a := r.readAck(cancel.Body); a.Status != "ACK" {
		t.Fatalf("cancel answer %+v", a)
	}
	if st := r.sim.Stats(); st["M-AM"].Kind != "amend" || st["M-CA"].Kind != "cancel" {
		t.Fatalf("stats = %+v", st)
	}
}

// TestAckPassesIndependentOracles checks the simulator's signed answers
// with tools that share no code with ours: xmlsec1 for the signature,
// xmllint for the ACK schema.
func TestAckPassesIndependentOracles(t *testing.T) {
	requireTool(t, "xmlsec1")
	for _, d := range testDefinitions(t) {
		t.Run(d.Spec.Name, func(t *testing.T) {
			r := newRig(t, d.Spec.Name, nil)
			decl := loadDeclaration(t, "huu-nghi-export.json")
			decl.Vehicle.PlateCN = "" // guangxi NACKs: check a NACK with its reason too
			decl.Consignments[0].HSCodeVN = "93062100"
			decl.Drivers[0].BorderPass.ExpiresOn = "2025-01-01"
			decl.Vehicle.InspectionCertificate.ExpiresOn = "2025-01-01"
			decl.Consignments[1].HSCodeVN = "06029090" // live plants with soil: plant quarantine NACKs
			resp := r.post("M-OR", r.build("submit", "M-OR", decl, nil))
			if resp.Status != 200 {
				t.Fatalf("status %d: %s", resp.Status, resp.Body)
			}
			if a := r.readAck(resp.Body); a.Status != "NACK" {
				t.Fatalf("want a NACK, got %+v", a)
			}
			info, _ := r.reg.Info(d.Spec.Name, message.Ack)
			if err := (xmllint{schemasDir}).Validate(info.SchemaFile, resp.Body); err != nil {
				t.Fatalf("ACK is schema-invalid: %v\n%s", err, resp.Body)
			}
			dir := t.TempDir()
			ackFile, certFile := filepath.Join(dir, "ack.xml"), filepath.Join(dir, "agency.pem")
			if err := os.WriteFile(ackFile, resp.Body, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(certFile, pki.CertPEM(r.agencyID.Cert), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command("xmlsec1", "--verify", "--enabled-reference-uris", "empty",
				"--pubkey-cert-pem", certFile, ackFile).CombinedOutput()
			if err != nil {
				t.Fatalf("xmlsec1 refused the ACK signature: %v\n%s", err, out)
			}
			// And a different agency's certificate must not verify it.
			other := newIdentity(t, d.Spec.Name)
			if err := os.WriteFile(certFile, pki.CertPEM(other.Cert), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.Command("xmlsec1", "--verify", "--enabled-reference-uris", "empty",
				"--pubkey-cert-pem", certFile, ackFile).CombinedOutput(); err == nil {
				t.Fatalf("xmlsec1 accepted the ACK under a foreign key:\n%s", out)
			}
		})
	}
}

func TestEvaluateFirstFailureWins(t *testing.T) {
	pass := Rule{Name: "pass", Check: func(*etree.Element, time.Time) (bool, string, string) { return true, "", "" }}
	fail := func(code string) Rule {
		return Rule{Name: code, Check: func(*etree.Element, time.Time) (bool, string, string) { return false, code, code + " text" }}
	}
	tests := []struct {
		rules []Rule
		want  Verdict
	}{
		{nil, Verdict{OK: true}},
		{[]Rule{pass}, Verdict{OK: true}},
		{[]Rule{pass, fail("A"), fail("B")}, Verdict{Code: "A", Text: "A text"}},
	}
	for _, tt := range tests {
		if got := Evaluate(tt.rules, etree.NewElement("x"), simNow); got != tt.want {
			t.Errorf("Evaluate = %+v, want %+v", got, tt.want)
		}
	}
}

func TestAckIDIsStable(t *testing.T) {
	a, b := AckID("customs", "M-1"), AckID("customs", "M-1")
	if a != b || a == AckID("guangxi", "M-1") || a == AckID("customs", "M-2") || len(a) > 64 {
		t.Fatalf("AckID: %s %s", a, b)
	}
}

func TestCallbackRefusedByHubIsNotRetried(t *testing.T) {
	hub := newHubCallback(t, "customs")
	hub.fail <- http.StatusUnprocessableEntity
	done := make(chan error, 1)
	r := newRig(t, "customs", func(c *Config) {
		c.Mode = ModeAsync
		c.CallbackURL = hub.srv.URL
		c.CallbackBackoff = time.Millisecond
		c.OnCallback = func(_ string, err error) { done <- err }
	})
	r.post("M-CR", r.build("submit", "M-CR", loadDeclaration(t, "huu-nghi-export.json"), nil))
	if err := <-done; err == nil || !strings.Contains(err.Error(), "422") {
		t.Fatalf("callback err = %v", err)
	}
	select {
	case b := <-hub.received:
		t.Fatalf("a refused callback was retried: %s", b)
	default:
	}
	if st := r.sim.Stats()["M-CR"]; st.Callbacks != 0 || st.CallbackError == "" {
		t.Fatalf("stats = %+v", st)
	}
}

func TestCloseStopsPendingCallbacks(t *testing.T) {
	hub := newHubCallback(t, "customs")
	done := make(chan error, 1)
	r := newRig(t, "customs", func(c *Config) {
		c.Mode = ModeAsync
		c.CallbackURL = hub.srv.URL
		c.Delay = time.Hour // the agency "processes" for an hour
		c.OnCallback = func(_ string, err error) { done <- err }
	})
	if resp := r.post("M-CL", r.build("submit", "M-CL", loadDeclaration(t, "huu-nghi-export.json"), nil)); resp.Status != 202 {
		t.Fatalf("status %d", resp.Status)
	}
	r.sim.Close() // returns only once the goroutine has ended
	select {
	case err := <-done:
		t.Fatalf("callback finished (%v) although the delay had not passed", err)
	default:
	}
	if len(hub.received) != 0 {
		t.Fatal("callback sent after Close")
	}
}

func TestSilentModeNeverAnswersEvenAStoredAck(t *testing.T) {
	r := newRig(t, "customs", nil)
	body := r.build("submit", "M-SS", loadDeclaration(t, "huu-nghi-export.json"), nil)
	first := r.post("M-SS", body)
	silent := ModeSilent
	if err := r.sim.Reconfigure(Update{Mode: &silent}); err != nil {
		t.Fatal(err)
	}
	if resp := r.post("M-SS", body); resp.Status != 202 || len(resp.Body) != 0 {
		t.Fatalf("silent resend: %d %q", resp.Status, resp.Body)
	}
	stored, ok := r.sim.Ack("M-SS")
	if !ok || !bytes.Equal(stored, first.Body) {
		t.Fatal("silent mode changed the stored answer")
	}
}

func TestMessageIDReuseIsRefused(t *testing.T) {
	r := newRig(t, "customs", nil)
	decl := loadDeclaration(t, "huu-nghi-export.json")
	if resp := r.post("M-RU", r.build("submit", "M-RU", decl, nil)); resp.Status != 200 {
		t.Fatalf("status %d", resp.Status)
	}
	decl.Consignments[0].HSCodeVN = "93011000"
	resp := r.post("M-RU", r.build("submit", "M-RU", decl, nil))
	if resp.Status != http.StatusConflict || problemCode(t, resp) != CodeMessageIDReused {
		t.Fatalf("reuse answered %d %s", resp.Status, resp.Body)
	}
	if st := r.sim.Stats()["M-RU"]; st.Status != "ACK" || st.Attempts != 2 {
		t.Fatalf("reuse changed the record: %+v", st)
	}
}
