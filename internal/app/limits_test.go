package app_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehub/gatehub/internal/config"
)

// TestSlowBodyTimesOut: a client that sends its headers and then trickles
// the body gets 408 once the body read timeout passes, on every route that
// takes a body, and holds the connection no longer.
func TestSlowBodyTimesOut(t *testing.T) {
	h := startWith(t, setup{config: func(c *config.Config) { c.Limits.BodyReadTimeout = 300 * time.Millisecond }})
	u, _ := url.Parse(h.url)
	for _, tc := range []struct{ method, path, token, ctype string }{
		{"POST", "/v1/declarations", traderToken, "application/json"},
		{"POST", "/v1/acks/customs", "", "application/xml"},
		{"POST", "/v1/devices/readings", "dev-HUUNGHI-EXP-1-camera", "application/json"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			head := tc.method + " " + tc.path + " HTTP/1.1\r\nHost: " + u.Host + "\r\nContent-Type: " + tc.ctype + "\r\nContent-Length: 4000\r\n"
			if tc.token != "" {
				head += "Authorization: Bearer " + tc.token + "\r\n"
			}
			if _, err := io.WriteString(conn, head+"\r\n{"); err != nil {
				t.Fatal(err)
			}
			// Trickle a byte every 50 ms, far slower than the 4000 announced.
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(50 * time.Millisecond):
						if _, err := conn.Write([]byte(" ")); err != nil {
							return
						}
					}
				}
			}()
			began := time.Now()
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer to a slow body: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Fatalf("HTTP %d, want 408", resp.StatusCode)
			}
			if took := time.Since(began); took > 5*time.Second {
				t.Fatalf("answered after %v", took)
			}
		})
	}
}

// TestBodyLimitsPerRoute: each route refuses a body over its own limit
// with 413, whether the length is announced or the body is chunked, and a
// route without a body refuses one.
func TestBodyLimitsPerRoute(t *testing.T) {
	h := start(t, nil)
	tests := []struct {
		method, path, token, ctype string
		size                       int
	}{
		{"POST", "/v1/declarations", traderToken, "application/json", 256<<10 + 1},
		{"POST", "/v1/declarations/D1/cancel", traderToken, "application/json", 4<<10 + 1},
		{"POST", "/v1/acks/customs", "", "application/xml", 256<<10 + 1},
		{"PUT", "/v1/admin/gates/HUUNGHI", "dev-admin", "application/yaml", 1<<20 + 1},
		{"POST", "/v1/devices/readings", "dev-HUUNGHI-EXP-1-camera", "application/json", 16<<10 + 1},
		{"GET", "/v1/gates", "dev-operator", "application/json", 10},
		{"POST", "/v1/admin/outbox/M1/redrive", "dev-operator", "application/json", 4<<10 + 1},
	}
	for _, tc := range tests {
		for _, chunked := range []bool{false, true} {
			name := tc.method + " " + tc.path
			if chunked {
				name += " chunked"
			}
			t.Run(name, func(t *testing.T) {
				body := io.Reader(bytes.NewReader(bytes.Repeat([]byte(" "), tc.size)))
				if chunked {
					body = io.MultiReader(body) // hides the length: sent chunked
				}
				req, _ := http.NewRequest(tc.method, h.url+tc.path, body)
				req.Header.Set("Content-Type", tc.ctype)
				if tc.token != "" {
					req.Header.Set("Authorization", "Bearer "+tc.token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				data, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				want := http.StatusRequestEntityTooLarge
				if chunked && (tc.method == "GET" || strings.Contains(tc.path, "/outbox/")) {
					return // a chunked body on a route that reads none is never read: nothing to refuse
				}
				if resp.StatusCode != want || !strings.Contains(string(data), "/problems/too-large") {
					t.Fatalf("HTTP %d %s, want 413 too-large", resp.StatusCode, data)
				}
			})
		}
	}
}

// TestLiveStreamLimits: a principal gets at most StreamsPerPrincipal live
// event streams and the instance StreamsTotal; the next one is a 429 that
// says which limit, and a closed stream frees its slot.
func TestLiveStreamLimits(t *testing.T) {
	h := startWith(t, setup{config: func(c *config.Config) {
		c.Limits.StreamsPerPrincipal, c.Limits.StreamsTotal = 2, 3
	}})
	open := func(token string) (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", h.url+"/v1/gates/HUUNGHI/lanes/EXP-1/events", nil)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			cancel()
			t.Fatal(err)
		}
		return resp, func() { cancel(); resp.Body.Close() }
	}
	expect := func(resp *http.Response, status int, detail string) {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("HTTP %d, want %d", resp.StatusCode, status)
		}
		if detail != "" {
			data, _ := io.ReadAll(resp.Body)
			if !strings.Contains(string(data), detail) || resp.Header.Get("Retry-After") == "" {
				t.Fatalf("429 without %q or Retry-After: %s", detail, data)
			}
		}
	}
	const barrier = "dev-HUUNGHI-EXP-1-barrier"
	r1, close1 := open(barrier)
	defer close1()
	expect(r1, 200, "")
	r2, close2 := open(barrier)
	defer close2()
	expect(r2, 200, "")
	r3, close3 := open(barrier)
	expect(r3, 429, "live event streams open already")
	close3()
	r4, close4 := open("dev-operator")
	defer close4()
	expect(r4, 200, "")
	r5, close5 := open("dev-admin")
	expect(r5, 429, "serves 3 live event streams")
	close5()

	close1() // frees a slot once the hub sees the stream end
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, c := open("dev-admin")
		if r.StatusCode == 200 {
			c()
			break
		}
		c()
		if time.Now().After(deadline) {
			t.Fatal("a closed stream never freed its slot")
		}
		time.Sleep(20 * time.Millisecond) // polling the hub's view; the deadline bounds it
	}
}
