package console_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatehub/gatehub/internal/config"
	"github.com/gatehub/gatehub/internal/console"
)

// Without a browser: the session cookie's attributes, CSRF and role
// refusals at the HTTP level, and Secure when the hub serves TLS.

func client(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func postForm(t *testing.T, c *http.Client, u string, v url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(u, v)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func csrfOf(t *testing.T, page string) string {
	t.Helper()
	const marker = `name="_csrf" value="`
	i := strings.Index(page, marker)
	if i < 0 {
		t.Fatalf("no CSRF field in page")
	}
	rest := page[i+len(marker):]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestSessionCookieAndCSRF(t *testing.T) {
	h := startHub(t, nil, nil)
	c := client(t)
	resp, _ := postForm(t, c, h.url+"/login", url.Values{"token": {trader}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	var ck *http.Cookie
	for _, k := range resp.Cookies() {
		if k.Name == "gatehub_session" {
			ck = k
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode || ck.Secure || ck.Path != "/" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP", ck)
	}
	_, page := get(t, c, h.url+"/declarations/new")
	token := csrfOf(t, page)
	for _, tc := range []struct {
		name string
		form url.Values
		want int
	}{
		{"no token", url.Values{"_action": {"add-driver"}}, http.StatusForbidden},
		{"wrong token", url.Values{"_csrf": {"x" + token}, "_action": {"add-driver"}}, http.StatusForbidden},
		{"right token", url.Values{"_csrf": {token}, "_action": {"add-driver"}}, http.StatusOK},
	} {
		resp, body := postForm(t, c, h.url+"/declarations", tc.form)
		if resp.StatusCode != tc.want {
			t.Errorf("%s: HTTP %d, want %d: %.200s", tc.name, resp.StatusCode, tc.want, body)
		}
	}
	// Another origin is refused even with the token.
	req, _ := http.NewRequest("POST", h.url+"/declarations", strings.NewReader(url.Values{"_csrf": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	r2, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin post: HTTP %d", r2.StatusCode)
	}
	// A trader's role does not open operator, auditor or admin pages.
	for _, p := range []string{"/outbox", "/audit", "/admin/gates", "/stats", "/gates/HUUNGHI/board"} {
		if resp, _ := get(t, c, h.url+p); resp.StatusCode != http.StatusForbidden {
			t.Errorf("trader GET %s: HTTP %d", p, resp.StatusCode)
		}
	}
	// Signed out, the cookie is worthless.
	postForm(t, c, h.url+"/logout", url.Values{"_csrf": {token}})
	resp, _ = get(t, c, h.url+"/declarations")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("after sign-out: HTTP %d to %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Devices and agencies are not people: no console session.
	resp, _ = postForm(t, client(t), h.url+"/login", url.Values{"token": {"dev-HUUNGHI-EXP-1-camera"}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("device token signed in: HTTP %d", resp.StatusCode)
	}
	// The API keeps its problem+json 404 for unknown /v1/ paths.
	resp, body := get(t, c, h.url+"/v1/nothing")
	if resp.StatusCode != 404 || !strings.Contains(resp.Header.Get("Content-Type"), "problem+json") {
		t.Errorf("/v1/nothing: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func TestSecureCookieUnderTLS(t *testing.T) {
	h := startHub(t, nil, nil)
	s := h.app.Server
	con, err := console.New(&console.Server{API: s, Auth: s.Auth, Gates: s.Gates, Bus: s.Bus, Secure: true})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(con.Handler())
	defer srv.Close()
	c := srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, _ := postForm(t, c, srv.URL+"/login", url.Values{"token": {operator}})
	for _, k := range resp.Cookies() {
		if k.Name == "gatehub_session" && !k.Secure {
			t.Fatalf("session cookie over TLS without Secure: %+v", k)
		}
	}
}

// Sign-in attempts from one address spend a request budget.
func TestSignInAttemptsAreLimited(t *testing.T) {
	h := startHub(t, func(c *config.Config) { c.RateLimit.Rate, c.RateLimit.Burst = 0.01, 3 }, nil)
	c := client(t)
	codes := []int{}
	for range 5 {
		resp, _ := postForm(t, c, h.url+"/login", url.Values{"token": {"guess"}})
		codes = append(codes, resp.StatusCode)
	}
	if codes[0] != http.StatusUnauthorized || codes[4] != http.StatusTooManyRequests {
		t.Fatalf("sign-in attempts answered %v: want 401 first, 429 once the budget is spent", codes)
	}
}
