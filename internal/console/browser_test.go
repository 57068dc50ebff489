package console_test

// Browser tests: a real headless Chromium (the independent oracle for
// pages) drives the console of a complete hub (app.New, in-process agency
// simulators). One browser per test binary; each test gets its own hub and
// its own browser context (cookie jar) per signed-in user. Screenshots of
// each main page at desktop and tablet width go to testoutput/ (ignored by
// git). Without chromium the tests skip, and fail under CI.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/gatehub/gatehub/internal/testenv"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/gatehub/gatehub/internal/app"
	"github.com/gatehub/gatehub/internal/app/apptest"
	"github.com/gatehub/gatehub/internal/config"
	sim "github.com/gatehub/gatehub/internal/simulator"
)

var (
	browserCtx context.Context // nil when no chromium
	noBrowser  string
)

func TestMain(m *testing.M) {
	code := func() int {
		path := findChromium()
		if path == "" {
			noBrowser = "chromium not installed (apt-get install -y chromium)"
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "gatehub-chromium-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		opts := []chromedp.ExecAllocatorOption{
			chromedp.ExecPath(path), chromedp.UserDataDir(dir),
			chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Headless, chromedp.DisableGPU,
			chromedp.NoSandbox, // root in CI containers
			chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
			chromedp.Flag("disable-sync", true), chromedp.Flag("disable-dev-shm-usage", true),
			chromedp.WindowSize(1366, 900),
		}
		alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
		defer cancelAlloc()
		bctx, cancelBrowser := chromedp.NewContext(alloc)
		defer cancelBrowser()
		if err := chromedp.Run(bctx); err != nil {
			fmt.Fprintln(os.Stderr, "start chromium:", err)
			return 1
		}
		browserCtx = bctx
		return m.Run()
	}()
	os.Exit(code)
}

func findChromium() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func needBrowser(t *testing.T) {
	t.Helper()
	if browserCtx != nil {
		return
	}
	if testenv.CI() {
		t.Fatalf("browser tests need chromium under CI: %s", noBrowser)
	}
	t.Skip(noBrowser)
}

type hubUnderTest struct {
	app *app.App
	url string
}

func testClock() func() time.Time {
	base := time.Date(2026, 11, 25, 1, 0, 0, 0, time.UTC)
	start := time.Now()
	return func() time.Time { return base.Add(time.Since(start)) }
}

func startHub(t *testing.T, edit func(*config.Config), simulator func(*sim.Config)) *hubUnderTest {
	t.Helper()
	cfg := apptest.Config(t, "../..")
	if edit != nil {
		edit(&cfg)
	}
	ctx, cancel := context.WithCancel(context.Background())
	a, err := app.New(ctx, cfg, app.Options{Log: apptest.Log(), Now: testClock(), ConfigureSimulator: simulator})
	if err != nil {
		cancel()
		t.Fatalf("assemble hub: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("hub run: %v", err)
		}
	})
	return &hubUnderTest{app: a, url: a.URL()}
}

// api calls the hub's API directly (devices, setup), never the console.
func (h *hubUnderTest) api(t *testing.T, method, path, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, h.url+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(resp.Body)
	return resp.StatusCode, buf.Bytes()
}

func (h *hubUnderTest) declare(t *testing.T, token string, body []byte) string {
	t.Helper()
	status, data := h.api(t, "POST", "/v1/declarations", token, body)
	if status != http.StatusCreated {
		t.Fatalf("declare: HTTP %d: %s", status, data)
	}
	var v struct{ ID string }
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v.ID
}

// newTab opens a tab with no cookies. Tabs share the browser's cookie jar
// (headless Chromium refuses new tabs in separate browser contexts here),
// so a test signs in one user at a time.
func newTab(t *testing.T, h *hubUnderTest) *user {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browserCtx)
	t.Cleanup(cancel)
	ctx, cancelT := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(cancelT)
	u := &user{t: t, ctx: ctx, h: h}
	u.run(network.ClearBrowserCookies())
	return u
}

// user is one tab signed in with a token.
type user struct {
	t   *testing.T
	ctx context.Context
	h   *hubUnderTest
}

func signIn(t *testing.T, h *hubUnderTest, token string) *user {
	t.Helper()
	u := newTab(t, h)
	u.run(chromedp.Navigate(h.url+"/"),
		chromedp.WaitVisible("#token", chromedp.ByID),
		chromedp.SendKeys("#token", token, chromedp.ByID),
		chromedp.Click("#login-submit", chromedp.ByID))
	u.waitJS("sign-in with "+token, `location.pathname !== "/login" && document.readyState === "complete"`, 15*time.Second)
	return u
}

func (u *user) run(actions ...chromedp.Action) {
	u.t.Helper()
	if err := chromedp.Run(u.ctx, actions...); err != nil {
		u.t.Fatalf("browser: %v (at %s)\n%s", err, u.locationNoFail(), u.bodyText())
	}
}

func (u *user) locationNoFail() string {
	var loc string
	ctx, cancel := context.WithTimeout(u.ctx, 2*time.Second)
	defer cancel()
	_ = chromedp.Run(ctx, chromedp.Location(&loc))
	return loc
}

func (u *user) bodyText() string {
	var s string
	ctx, cancel := context.WithTimeout(u.ctx, 2*time.Second)
	defer cancel()
	_ = chromedp.Run(ctx, chromedp.Text("main", &s, chromedp.ByQuery))
	if len(s) > 2000 {
		s = s[:2000]
	}
	return s
}

func (u *user) location() string {
	u.t.Helper()
	var loc string
	u.run(chromedp.Location(&loc))
	return loc
}

func (u *user) text(sel string) string {
	u.t.Helper()
	var s string
	u.run(chromedp.Text(sel, &s, chromedp.ByQuery))
	return s
}

func (u *user) eval(js string, out any) {
	u.t.Helper()
	u.run(chromedp.Evaluate(js, out))
}

// waitJS polls a JavaScript condition until it is true or the deadline.
func (u *user) waitJS(what, js string, within time.Duration) {
	u.t.Helper()
	deadline := time.Now().Add(within)
	for {
		var ok bool
		if err := chromedp.Run(u.ctx, chromedp.Evaluate(js, &ok)); err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("waited %s for %s (at %s)\n%s", within, what, u.locationNoFail(), u.bodyText())
		}
		if err := chromedp.Run(u.ctx, chromedp.Sleep(100*time.Millisecond)); err != nil {
			u.t.Fatal(err)
		}
	}
}

// screenshot writes the page at desktop and tablet width.
func (u *user) screenshot(name string) {
	u.t.Helper()
	dir := filepath.Join("testoutput", "screenshots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		u.t.Fatal(err)
	}
	for _, vp := range []struct {
		name string
		w, h int64
	}{{"desktop", 1366, 900}, {"tablet", 820, 1180}} {
		var png []byte
		u.run(chromedp.EmulateViewport(vp.w, vp.h), chromedp.Sleep(150*time.Millisecond), chromedp.FullScreenshot(&png, 100))
		if err := os.WriteFile(filepath.Join(dir, name+"-"+vp.name+".png"), png, 0o644); err != nil {
			u.t.Fatal(err)
		}
	}
	u.run(chromedp.EmulateViewport(1366, 900))
}

func sample(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../../conformance-tests/declarations/huu-nghi-export.json")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	trader      = "dev-trader-0101234567"
	otherTrader = "dev-trader-0202345678"
	operator    = "dev-operator"
	auditor     = "dev-auditor"
	admin       = "dev-admin"
)

// TestSignInEachRole: every role lands on its home page with its own
// navigation; sign-out ends the session.
func TestSignInEachRole(t *testing.T) {
	needBrowser(t)
	h := startHub(t, nil, nil)
	for _, tc := range []struct {
		token, home string
		nav         []string
		notNav      []string
	}{
		{trader, "/declarations", []string{"/declarations"}, []string{"/outbox", "/audit", "/admin/gates", "/stats"}},
		{operator, "/gates", []string{"/gates", "/outbox", "/stats"}, []string{"/admin/gates", "/audit"}},
		{auditor, "/audit", []string{"/audit", "/stats"}, []string{"/outbox", "/admin/gates"}},
		{admin, "/admin/gates", []string{"/admin/gates", "/outbox", "/audit", "/stats"}, nil},
	} {
		u := signIn(t, h, tc.token)
		if loc := u.location(); !strings.HasSuffix(loc, tc.home) {
			t.Errorf("%s: home %s, want %s", tc.token, loc, tc.home)
		}
		var links []string
		u.eval(`Array.from(document.querySelectorAll("header nav a")).map(a => a.getAttribute("href"))`, &links)
		for _, want := range tc.nav {
			if !contains(links, want) {
				t.Errorf("%s: navigation %v lacks %s", tc.token, links, want)
			}
		}
		for _, not := range tc.notNav {
			if contains(links, not) {
				t.Errorf("%s: navigation %v shows %s", tc.token, links, not)
			}
		}
		// The session cookie is not readable by script (HttpOnly).
		var cookies string
		u.eval(`document.cookie`, &cookies)
		if strings.Contains(cookies, "gatehub_session") {
			t.Errorf("%s: session cookie visible to script: %q", tc.token, cookies)
		}
		u.screenshot("home-" + strings.ReplaceAll(strings.TrimPrefix(tc.home, "/"), "/", "-"))
		u.follow(`header button[type=submit]`, "#token")
		u.run(chromedp.Navigate(h.url + tc.home))
		if loc := u.location(); !strings.Contains(loc, "/login") {
			t.Errorf("%s: after sign-out %s is still reachable (%s)", tc.token, tc.home, loc)
		}
	}
	u := newTab(t, h)
	u.run(chromedp.Navigate(h.url+"/login"), chromedp.WaitVisible("#token", chromedp.ByID))
	u.screenshot("login")
	u.run(chromedp.SendKeys("#token", "not-a-token", chromedp.ByID))
	u.follow("#login-submit", "#login-error")
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// TestTraderDeclaresFixesAndWatchesClearance: three mistakes are shown at
// once next to their fields; fixed, the declaration is accepted and its page
// turns CLEARED without a reload.
func TestTraderDeclaresFixesAndWatchesClearance(t *testing.T) {
	needBrowser(t)
	// Agencies take a moment to answer, so the page is seen PENDING first.
	h := startHub(t, func(c *config.Config) { c.SimulatorDelay = 1500 * time.Millisecond }, nil)
	u := signIn(t, h, trader)
	u.run(chromedp.Navigate(h.url+"/declarations/new"), chromedp.WaitVisible("#declare-form", chromedp.ByID))
	u.screenshot("declare-empty")
	// Fill the form from the sample file (paste, load), then add and remove
	// a driver row, then make three mistakes by hand.
	u.run(chromedp.Click("details.upload summary", chromedp.ByQuery),
		chromedp.SetValue("#upload-json", string(sample(t)), chromedp.ByID))
	u.follow("#upload-load", "#f-vehicle-plateVN")
	if v := u.value("#f-vehicle-plateVN"); v != "12C-12345" {
		t.Fatalf("loaded plate %q", v)
	}
	u.follow("#add-driver", "#f-drivers-1-name")
	u.follow(`button[value="remove-driver-1"]`, "#add-driver")
	var rows int
	u.eval(`document.querySelectorAll("#f-drivers-1-name").length`, &rows)
	if rows != 0 {
		t.Fatal("removed driver row still there")
	}
	u.setField("#f-vehicle-plateVN", "xx")
	u.setField("#f-consignments-0-hsCodeVN", "12")
	u.setField("#f-drivers-0-name", "")
	u.follow("#submit-declaration", "#error-summary")
	var pointers []string
	u.eval(`Array.from(document.querySelectorAll(".field-error")).map(e => e.dataset.pointer)`, &pointers)
	want := []string{"/vehicle/plateVN", "/drivers/0/name", "/consignments/0/hsCodeVN"}
	for _, p := range want {
		if !contains(pointers, p) {
			t.Errorf("no error next to %s (errors at %v)", p, pointers)
		}
	}
	if len(pointers) != 3 {
		t.Errorf("want exactly the three mistakes, got errors at %v", pointers)
	}
	// Each error is inside its input's field and tied to it for screen readers.
	for _, p := range want {
		id := "f" + strings.ReplaceAll(p, "/", "-")
		var tied bool
		u.eval(fmt.Sprintf(`(function(){var i=document.getElementById(%q); var e=document.getElementById(%q+"-err");
			return !!i && !!e && i.getAttribute("aria-invalid")==="true" && i.getAttribute("aria-describedby").includes(e.id) && i.closest(".field")===e.closest(".field");})()`, id, id), &tied)
		if !tied {
			t.Errorf("error of %s is not next to its input", p)
		}
	}
	u.screenshot("declare-errors")
	u.setField("#f-vehicle-plateVN", "12C-12345")
	u.setField("#f-consignments-0-hsCodeVN", "08106000")
	u.setField("#f-consignments-0-hsCodeCN", "0810600000")
	u.setField("#f-drivers-0-name", "Nguyễn Văn An")
	u.follow("#submit-declaration", "#decision-status")
	if !strings.Contains(u.location(), "/declarations/D") {
		t.Fatalf("not on the declaration page: %s", u.location())
	}
	// Mark this document: a reload would lose the mark.
	u.eval(`window.__noReload = 1; document.getElementById("decision-status").textContent`, new(string))
	if st := u.text("#decision-status"); st == "CLEARED" {
		t.Fatalf("decision already CLEARED when the page loaded; the live update is not exercised")
	}
	u.screenshot("declaration-pending")
	u.waitJS("the decision to turn CLEARED live", `document.getElementById("decision-status").textContent === "CLEARED" && window.__noReload === 1`, 30*time.Second)
	u.waitJS("every agency ACK", `document.querySelectorAll("#agencies tbody tr").length === 4 && document.querySelectorAll("#agencies .badge.ok").length >= 8`, 10*time.Second)
	// The signed XML of each message is downloadable.
	var hrefs []string
	u.eval(`Array.from(document.querySelectorAll("#agencies a[download]")).map(a => a.href)`, &hrefs)
	if len(hrefs) != 4 {
		t.Fatalf("want 4 signed XML links, got %v", hrefs)
	}
	u.screenshot("declaration-cleared")
	// The list shows it, filtered by plate.
	u.run(chromedp.Navigate(h.url+"/declarations?plate=12C-12345"), chromedp.WaitVisible("table", chromedp.ByQuery))
	u.screenshot("declarations")
}

// follow clicks sel (ByQuery) and waits for the page it loads (a new
// document, not the old one still showing), then for the element then.
func (u *user) follow(sel, then string) {
	u.t.Helper()
	u.run(chromedp.WaitVisible(sel, chromedp.ByQuery), chromedp.Evaluate(`window.__old = 1; true`, new(bool)), chromedp.Click(sel, chromedp.ByQuery))
	u.waitJS("the page after clicking "+sel, `window.__old === undefined && document.readyState === "complete"`, 30*time.Second)
	u.waitJS(then+" on the page after clicking "+sel, fmt.Sprintf(`!!document.querySelector(%q)`, then), 10*time.Second)
}

func (u *user) value(sel string) string {
	u.t.Helper()
	var v string
	u.run(chromedp.Value(sel, &v, chromedp.ByQuery))
	return v
}

func (u *user) setField(sel, v string) {
	u.t.Helper()
	u.run(chromedp.Clear(sel, chromedp.ByQuery))
	if v != "" {
		u.run(chromedp.SendKeys(sel, v, chromedp.ByQuery))
	}
}

// TestTraderCannotSeeAnotherTradersDeclaration: by URL, by its live
// stream, by its message download, or in the list.
func TestTraderCannotSeeAnotherTradersDeclaration(t *testing.T) {
	needBrowser(t)
	h := startHub(t, nil, nil)
	id := h.declare(t, trader, sample(t))
	status, data := h.api(t, "GET", "/v1/declarations/"+id, trader, nil)
	if status != 200 {
		t.Fatalf("own view: %d %s", status, data)
	}
	var v struct {
		Messages []struct{ ID string }
	}
	_ = json.Unmarshal(data, &v)
	other := signIn(t, h, otherTrader)
	for _, path := range []string{"/declarations/" + id, "/declarations/" + id + "/amend", "/declarations/" + id + "/messages/" + v.Messages[0].ID} {
		code := other.fetchStatus(path, nil)
		other.run(chromedp.Navigate(h.url+path), chromedp.WaitVisible("main", chromedp.ByQuery))
		body := other.bodyText()
		if code != 404 || strings.Contains(body, "12C-12345") || strings.Contains(body, "0101234567") {
			t.Errorf("%s: other trader got HTTP %d: %q", path, code, body)
		}
	}
	if live := other.fetchStatus("/declarations/"+id+"/live", map[string]string{"Accept": "text/event-stream"}); live != 404 {
		t.Errorf("other trader's live stream: HTTP %d", live)
	}
	other.run(chromedp.Navigate(h.url + "/declarations"))
	if body := other.bodyText(); strings.Contains(body, id) {
		t.Errorf("other trader's list shows %s", id)
	}
	other.run(chromedp.Navigate(h.url + "/declarations?plate=12C-12345"))
	if body := other.bodyText(); strings.Contains(body, id) {
		t.Errorf("other trader's plate search shows %s", id)
	}
	// The owner sees it, and amends it from its page: version 2.
	owner := signIn(t, h, trader)
	owner.run(chromedp.Navigate(h.url+"/declarations/"+id), chromedp.WaitVisible("#decision-status", chromedp.ByID))
	owner.follow("#amend", "#f-vehicle-grossWeightKg")
	if v := owner.value("#f-consignments-1-hsCodeVN"); v != "08045020" {
		t.Fatalf("amend form not filled from the declaration: second HS code %q", v)
	}
	owner.setField("#f-vehicle-grossWeightKg", "39000")
	owner.follow("#submit-declaration", "#decision-status")
	status, data = h.api(t, "GET", "/v1/declarations/"+id, trader, nil)
	if status != 200 || !bytes.Contains(data, []byte(`"version": 2`)) || !bytes.Contains(data, []byte(`39000`)) {
		t.Errorf("amendment through the console not stored: %.400s", data)
	}
	// Switched to Vietnamese, the page speaks Vietnamese.
	owner.follow("a.lang", "#decision-h")
	if h2 := owner.text("#decision-h"); !strings.Contains(h2, "Quyết định thông quan") {
		t.Errorf("after switching to Vietnamese: %q", h2)
	}
	var lang string
	owner.eval(`document.documentElement.lang`, &lang)
	if lang != "vi" {
		t.Errorf("html lang %q", lang)
	}
	owner.screenshot("declaration-vi")
}

// TestCSRFTokenMissingIsRefused: a form posted without the session's CSRF
// token changes nothing.
func TestCSRFTokenMissingIsRefused(t *testing.T) {
	needBrowser(t)
	h := startHub(t, nil, nil)
	id := h.declare(t, trader, sample(t))
	u := signIn(t, h, trader)
	u.run(chromedp.Navigate(h.url+"/declarations/"+id), chromedp.WaitVisible("#cancel", chromedp.ByID))
	// Strip the token and the confirmation, submit the cancel form.
	u.eval(`document.querySelectorAll("input[name=_csrf]").forEach(e => e.remove());
		document.querySelectorAll("form[data-confirm]").forEach(f => { f.removeAttribute("data-confirm"); f.submit(); }); true`, new(bool))
	u.run(chromedp.WaitVisible(".alert.bad", chromedp.ByQuery))
	var code int64
	u.eval(`performance.getEntriesByType("navigation")[0].responseStatus`, &code)
	if code != http.StatusForbidden || !strings.Contains(u.bodyText(), "CSRF") {
		t.Errorf("cancel without CSRF token: HTTP %d %q", code, u.bodyText())
	}
	status, data := h.api(t, "GET", "/v1/declarations/"+id, trader, nil)
	if status != 200 || !bytes.Contains(data, []byte(`"status": "active"`)) {
		t.Errorf("declaration changed by a refused post: %s", data)
	}
	// A wrong token likewise; the right one (the page as served) works.
	u.run(chromedp.Navigate(h.url+"/declarations/"+id), chromedp.WaitVisible("#cancel", chromedp.ByID))
	u.eval(`document.querySelectorAll("input[name=_csrf]").forEach(e => e.value = "forged"); document.querySelector("form[data-confirm]").submit(); true`, new(bool))
	u.run(chromedp.WaitVisible(".alert.bad", chromedp.ByQuery))
	u.run(chromedp.Navigate(h.url+"/declarations/"+id), chromedp.WaitVisible("#cancel", chromedp.ByID))
	// The confirmation dialog, answered yes.
	u.eval(`window.__asked = ""; window.confirm = q => { window.__asked = q; return true; }; true`, new(bool))
	u.follow("#cancel", "#decision-status")
	u.waitJS("the cancellation", `document.getElementById("decision-status").textContent === "CANCELLED"`, 10*time.Second)
}

// fetchStatus fetches path from the page (its cookies) and returns the
// HTTP status.
func (u *user) fetchStatus(path string, headers map[string]string) int64 {
	u.t.Helper()
	if headers == nil {
		headers = map[string]string{}
	}
	h, _ := json.Marshal(headers)
	var code int64
	u.run(chromedp.Evaluate(fmt.Sprintf(`fetch(%q, {headers: %s, redirect: "manual"}).then(r => { if (r.body) { r.body.cancel(); } return r.status; })`, path, h), &code,
		func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	return code
}

// TestOperatorSeesLaneEventLiveAndRedrivesDeadLetter.
func TestOperatorSeesLaneEventLiveAndRedrivesDeadLetter(t *testing.T) {
	needBrowser(t)
	// The customs simulator refuses the first two attempts of every message
	// and the hub gives up after two: a dead letter, which a redrive then
	// delivers.
	h := startHub(t, func(c *config.Config) { c.Delivery.MaxAttempts, c.Delivery.InCallRetries = 2, 0 }, func(c *sim.Config) {
		if c.Spec.Name == "customs" || c.Agency == "customs" {
			c.FailFirst = 2
		}
	})
	id := h.declare(t, trader, sample(t))
	u := signIn(t, h, operator)
	u.screenshot("gates")
	u.run(chromedp.Navigate(h.url+"/gates/HUUNGHI/board"), chromedp.WaitVisible("#lane-EXP-1", chromedp.ByID))
	u.waitJS("the board's live stream", `document.getElementById("lanes").getAttribute("data-connected") === "true"`, 10*time.Second)
	u.eval(`window.__noReload = 1; true`, new(bool))
	status, data := h.api(t, "POST", "/v1/devices/readings", "dev-HUUNGHI-EXP-1-camera", []byte(`{"kind":"plate","plate":"12C-12345","confidence":0.97}`))
	if status != 200 {
		t.Fatalf("reading: %d %s", status, data)
	}
	u.waitJS("the lane event to arrive live", `document.querySelector("#lane-EXP-1 .plate") && document.querySelector("#lane-EXP-1 .plate").textContent.includes("12C-12345") && window.__noReload === 1`, 15*time.Second)
	u.screenshot("board")
	// The dead letter.
	u.run(chromedp.Navigate(h.url + "/outbox?tab=dead"))
	u.waitJS("a dead letter", `(function(){ if (!document.querySelector("#outbox a[id^=redrive-]")) { location.reload(); return false; } return true; })()`, 30*time.Second)
	u.screenshot("outbox")
	var msgID string
	u.eval(`document.querySelector("#outbox tr[data-message]").dataset.message`, &msgID)
	u.follow("#redrive-"+msgID, "#confirm")
	u.screenshot("outbox-confirm")
	u.follow("#confirm", ".tabs")
	deadline := time.Now().Add(20 * time.Second)
	for {
		status, data := h.api(t, "GET", "/v1/declarations/"+id, trader, nil)
		if status == 200 && bytes.Count(data, []byte(`"state": "acked"`)) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redriven message not delivered: %s", data)
		}
		time.Sleep(100 * time.Millisecond)
	}
	status, data = h.api(t, "GET", "/v1/audit?kind=operator.redrive", auditor, nil)
	if status != 200 || !bytes.Contains(data, []byte(msgID)) || !bytes.Contains(data, []byte("operator-langson")) {
		t.Errorf("redrive not in the audit log as the operator: %s", data)
	}
}

// TestAuditorFindsByPlateAndVerifies: search, entry detail with its signed
// XML, verify chain with its result, statistics.
func TestAuditorFindsByPlateAndVerifies(t *testing.T) {
	needBrowser(t)
	h := startHub(t, nil, nil)
	id := h.declare(t, trader, sample(t))
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, data := h.api(t, "GET", "/v1/declarations/"+id+"/decision", trader, nil)
		if bytes.Contains(data, []byte("CLEARED")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not cleared: %s", data)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The truck arrives and passes B1, gate-in (its plate read and the
	// border guard's pass are all B1 needs: barrier OPEN, a checkpoint
	// passage), and a second one is refused by the vehicle registry: data
	// for the statistics.
	for _, r := range []struct{ token, body string }{
		{"dev-HUUNGHI-GATE-1-camera", `{"kind":"plate","plate":"12C-12345","confidence":0.97}`},
	} {
		if status, data := h.api(t, "POST", "/v1/devices/readings", r.token, []byte(r.body)); status != 200 {
			t.Fatalf("reading: %d %s", status, data)
		}
	}
	rejected := strings.NewReplacer(`"expiresOn": "2027-05-31"`, `"expiresOn": "2026-01-31"`, "12C-12345", "12C-54321", "桂A12345", "桂A54321").Replace(string(sample(t)))
	rid := h.declare(t, trader, []byte(rejected))
	for deadline := time.Now().Add(20 * time.Second); ; {
		_, data := h.api(t, "GET", "/v1/declarations/"+rid+"/decision", trader, nil)
		if bytes.Contains(data, []byte("REJECTED")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not rejected: %s", data)
		}
		time.Sleep(100 * time.Millisecond)
	}
	u := signIn(t, h, auditor)
	u.run(chromedp.SendKeys("#a-plate", "12C-12345", chromedp.ByID))
	u.follow("#audit-search", "#audit-results")
	if body := u.text("#audit-results"); !strings.Contains(body, id) || !strings.Contains(body, "message.outbound") {
		t.Fatalf("search by plate: %q", body)
	}
	u.screenshot("audit-search")
	var seq string
	u.eval(`Array.from(document.querySelectorAll("#audit-results tr")).find(r => r.cells[2] && r.cells[2].textContent === "message.outbound").cells[0].textContent`, &seq)
	u.follow(`a[href="/audit/entries/`+seq+`"]`, "#chain-h")
	if xml := u.text("pre.xml"); !strings.Contains(xml, "Signature") {
		t.Errorf("entry detail without signed XML: %.200q", xml)
	}
	var ok int
	u.eval(`document.querySelectorAll("#chain-h ~ p .badge.ok").length`, &ok)
	if ok != 2 {
		t.Errorf("chain position badges ok: %d", ok)
	}
	u.screenshot("audit-entry")
	u.run(chromedp.Navigate(h.url + "/audit"))
	u.follow("#verify-chain", "#verify-progress")
	u.waitJS("the verification result", `!!document.getElementById("verify-result")`, 30*time.Second)
	var result string
	u.eval(`document.getElementById("verify-result").dataset.result`, &result)
	if result != "ok" {
		t.Errorf("verify chain: %s: %s", result, u.text("#verify-result"))
	}
	u.screenshot("audit-verify")
	// Statistics of the test clock's day: one crossing, the refusal.
	u.run(chromedp.Navigate(h.url+"/stats?from=2026-11-24&to=2026-11-26"), chromedp.WaitVisible("#st-acks", chromedp.ByID))
	var charts int
	u.eval(`document.querySelectorAll("svg.chart").length`, &charts)
	if charts != 3 {
		t.Errorf("statistics with %d charts, want 3", charts)
	}
	if body := u.bodyText(); !strings.Contains(body, "HUUNGHI") || !strings.Contains(body, "VR-INSPECTION-EXPIRED") {
		t.Errorf("statistics lack the crossing or the refusal: %q", body)
	}
	if body := u.bodyText(); strings.Contains(body, "No checkpoint passages recorded yet") || !strings.Contains(body, "B1") {
		t.Errorf("statistics lack the dwell time at B1 the truck passed: %q", body)
	}
	u.screenshot("stats")
}

// TestAdminValidatesAndAppliesGateFile: the same errors as gatehubctl
// gates validate, then an apply.
func TestAdminValidatesAndAppliesGateFile(t *testing.T) {
	needBrowser(t)
	h := startHub(t, nil, nil)
	src, err := os.ReadFile("../../deploy/gates/chima.yaml")
	if err != nil {
		t.Fatal(err)
	}
	u := signIn(t, h, admin)
	bad := strings.Replace(string(src), "direction: export", "direction: sideways", 1)
	u.run(chromedp.SetValue("#gate-source", bad, chromedp.ByID))
	u.follow("#gate-validate", "#admin-issues")
	if issues := u.text("#admin-issues"); !strings.Contains(issues, "gate.yaml:") || !strings.Contains(issues, "sideways") {
		t.Errorf("issues: %q", issues)
	}
	u.screenshot("admin-gates")
	u.run(chromedp.SetValue("#gate-source", string(src), chromedp.ByID))
	u.follow("#gate-apply", "#admin-result")
	if res := u.text("#admin-result"); !strings.Contains(res, "CHIMA") {
		t.Errorf("apply: %q", res)
	}
}
