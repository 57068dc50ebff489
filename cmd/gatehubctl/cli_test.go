package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spf13/cobra"

	"github.com/gatehub/gatehub/internal/auth"
)

// leafCommands is every runnable command path, e.g. "outbox cancel".
func leafCommands(c *cobra.Command, prefix []string) [][]string {
	var out [][]string
	for _, sub := range c.Commands() {
		path := append(append([]string{}, prefix...), sub.Name())
		out = append(out, path)
		out = append(out, leafCommands(sub, path)...)
	}
	return out
}

// forbidHub points GATEHUB_URL at a server that fails the test on any
// request, and returns how many arrived.
func forbidHub(t *testing.T) *atomic.Int32 {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		t.Errorf("unexpected request %s %s", r.Method, r.URL)
		http.Error(w, "no", http.StatusTeapot)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("GATEHUB_URL", srv.URL)
	return &n
}

// TestHelpOnEveryCommand: -h, --help and the old -help print help and exit
// 0 on every command, without touching the hub, stdin or any file.
func TestHelpOnEveryCommand(t *testing.T) {
	requests := forbidHub(t)
	t.Setenv("GATEHUB_DATABASE_URL", "postgres://hub:db-secret-pw@127.0.0.1/hub")
	t.Setenv("GATEHUB_TOKEN", "token-secret-value")
	paths := leafCommands(rootCmd(), nil)
	if len(paths) < 20 {
		t.Fatalf("only %d commands found", len(paths))
	}
	for _, path := range append(paths, []string{}) {
		for _, h := range []string{"-h", "--help", "-help"} {
			name := strings.Join(append(append([]string{}, path...), h), " ")
			t.Run(name, func(t *testing.T) {
				var out bytes.Buffer
				err := execute(t.Context(), append(append([]string{}, path...), h), strings.NewReader("secret-from-stdin\n"), &out, &out)
				if code := report(t.Context(), err, &out); code != 0 {
					t.Fatalf("exit %d: %v\n%s", code, err, out.String())
				}
				if !strings.Contains(out.String(), "Usage:") {
					t.Fatalf("no help printed:\n%s", out.String())
				}
				if strings.Contains(out.String(), auth.HashToken("secret-from-stdin")) {
					t.Fatal("help hashed stdin")
				}
				if strings.Contains(out.String(), "db-secret-pw") || strings.Contains(out.String(), "token-secret-value") {
					t.Fatal("help shows a secret from the environment")
				}
			})
		}
	}
	if n := requests.Load(); n != 0 {
		t.Fatalf("help made %d requests to the hub", n)
	}
}

// TestHubCommandsNameTheirEnvironment: every command that calls the hub
// says in its help which variables it reads.
func TestHubCommandsNameTheirEnvironment(t *testing.T) {
	for _, path := range [][]string{{"gates", "apply"}, {"gates", "list"}, {"outbox", "list"}, {"outbox", "overdue"},
		{"outbox", "redrive"}, {"outbox", "cancel"}, {"audit", "find"}, {}} {
		var out bytes.Buffer
		if err := execute(t.Context(), append(path, "--help"), nil, &out, &out); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"GATEHUB_URL", "GATEHUB_TOKEN"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("gatehubctl %s --help does not mention %s", strings.Join(path, " "), want)
			}
		}
	}
	var out bytes.Buffer
	if err := execute(t.Context(), []string{"--help"}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Exit status:", "64", "completion"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("gatehubctl --help lacks %q:\n%s", want, out.String())
		}
	}
}

func TestTokensHashReadsStdinOrEnvNeverArgv(t *testing.T) {
	want := auth.HashToken("s3cret-token") + "\n"
	tests := []struct {
		name  string
		args  []string
		stdin string
		env   string
		out   string
		exit  int
	}{
		{"stdin with newline", []string{"tokens", "hash"}, "s3cret-token\n", "", want, 0},
		{"stdin without newline", []string{"tokens", "hash"}, "s3cret-token", "", want, 0},
		{"stdin CRLF", []string{"tokens", "hash"}, "s3cret-token\r\n", "", want, 0},
		{"env", []string{"tokens", "hash", "--env", "TEST_GATEHUB_SECRET"}, "", "s3cret-token", want, 0},
		{"argv refused", []string{"tokens", "hash", "s3cret-token"}, "", "", "", exitUsage},
		{"empty stdin", []string{"tokens", "hash"}, "", "", "", exitUsage},
		{"unset env", []string{"tokens", "hash", "--env", "TEST_GATEHUB_UNSET"}, "", "", "", exitUsage},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TEST_GATEHUB_SECRET", tc.env)
			var out, errOut bytes.Buffer
			err := execute(t.Context(), tc.args, strings.NewReader(tc.stdin), &out, &errOut)
			if code := report(t.Context(), err, &errOut); code != tc.exit {
				t.Fatalf("exit %d, want %d: %s", code, tc.exit, errOut.String())
			}
			if out.String() != tc.out {
				t.Fatalf("printed %q, want %q", out.String(), tc.out)
			}
			if strings.Contains(errOut.String(), "s3cret-token") {
				t.Fatalf("the token was echoed on stderr: %s", errOut.String())
			}
		})
	}
}

func TestTokensNew(t *testing.T) {
	var out bytes.Buffer
	if err := execute(t.Context(), []string{"tokens", "new"}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("want token and hash lines:\n%s", out.String())
	}
	token := strings.TrimSpace(strings.TrimPrefix(lines[0], "token:"))
	hash := strings.TrimSpace(strings.TrimPrefix(lines[1], "sha256:"))
	if len(token) < 40 || hash != auth.HashToken(token) {
		t.Fatalf("token %q hash %q", token, hash)
	}
}

// fakeHub answers every request with status and body, recording the
// request it got.
func fakeHub(t *testing.T, status int, body string) *[]*http.Request {
	t.Helper()
	var got []*http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r)
		ct := "application/json"
		if status >= 400 {
			ct = "application/problem+json"
		}
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	t.Setenv("GATEHUB_URL", srv.URL)
	t.Setenv("GATEHUB_TOKEN", "env-token")
	return &got
}

const outboxAnswer = `{"messages":[{"id":"M-1","agency":"customs","kind":"declaration","version":1,"state":"dead",
 "attempts":5,"lastError":"HTTP 503 from agency\nretry later","mappingVersion":"v1","schemaVersion":"1","createdAt":"2026-11-25T08:00:00Z"}]}`

func TestOutputTableAndJSON(t *testing.T) {
	got := fakeHub(t, 200, outboxAnswer)
	var table bytes.Buffer
	if err := execute(t.Context(), []string{"outbox", "list", "-state", "dead", "--agency=customs"}, nil, &table, &table); err != nil {
		t.Fatal(err)
	}
	r := (*got)[0]
	if r.URL.Query().Get("state") != "dead" || r.URL.Query().Get("agency") != "customs" || r.Header.Get("Authorization") != "Bearer env-token" {
		t.Fatalf("request %s with %q", r.URL, r.Header.Get("Authorization"))
	}
	lines := strings.Split(strings.TrimSpace(table.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "MESSAGE") || !strings.Contains(lines[1], "M-1") ||
		!strings.Contains(lines[1], "HTTP 503 from agency retry later") {
		t.Fatalf("table:\n%s", table.String())
	}
	var js bytes.Buffer
	if err := execute(t.Context(), []string{"outbox", "list", "-o", "json"}, nil, &js, &js); err != nil {
		t.Fatal(err)
	}
	var v struct{ Messages []map[string]any }
	if err := json.Unmarshal(js.Bytes(), &v); err != nil || len(v.Messages) != 1 || v.Messages[0]["id"] != "M-1" {
		t.Fatalf("json output %v:\n%s", err, js.String())
	}
	var bad bytes.Buffer
	err := execute(t.Context(), []string{"outbox", "list", "-o", "yaml"}, nil, &bad, &bad)
	if code := report(t.Context(), err, &bad); code != exitUsage {
		t.Fatalf("-o yaml: exit %d", code)
	}
}

func TestExitStatuses(t *testing.T) {
	problem := `{"type":"about:blank","title":"Not Found","status":404,"detail":"message M-9: not found"}`
	closed := func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		t.Setenv("GATEHUB_URL", "http://"+addr)
	}
	tests := []struct {
		name   string
		setup  func(t *testing.T)
		args   []string
		exit   int
		stderr string
	}{
		{"unknown command", nil, []string{"outbox", "cancle", "M-1"}, exitUsage, `did you mean cancel`},
		{"unknown top command", nil, []string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{"unknown flag", nil, []string{"outbox", "list", "--bogus"}, exitUsage, "unknown flag"},
		{"missing argument", nil, []string{"outbox", "cancel"}, exitUsage, "MESSAGE_ID"},
		{"missing required flag", nil, []string{"audit", "export"}, exitUsage, "--out"},
		{"hub refuses", func(t *testing.T) { fakeHub(t, 404, problem) }, []string{"outbox", "cancel", "M-9"}, exitRefused, "HTTP 404 Not Found: message M-9: not found"},
		{"hub fails", func(t *testing.T) { fakeHub(t, 503, `{"title":"Service Unavailable","status":503}`) }, []string{"gates", "list"}, exitUnavailable, "HTTP 503"},
		{"hub not there", closed, []string{"gates", "list"}, exitUnavailable, "connection refused"},
		{"problems found, said on stdout only", nil, []string{"gates", "validate", "testdata-does-not-exist.yaml"}, exitProblems, ""},
		{"password in argv", nil, []string{"audit", "export", "--out", "x.tar.gz", "--database-url", "postgres://u:pw@127.0.0.1/db"}, exitUsage, "PGPASSWORD"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup(t)
			} else {
				forbidHub(t)
			}
			var out, errOut bytes.Buffer
			err := execute(t.Context(), tc.args, nil, &out, &errOut)
			code := report(t.Context(), err, &errOut)
			if code != tc.exit {
				t.Fatalf("exit %d, want %d (%v)\nstdout:\n%s\nstderr:\n%s", code, tc.exit, err, out.String(), errOut.String())
			}
			if !strings.Contains(errOut.String(), tc.stderr) {
				t.Fatalf("stderr lacks %q:\n%s", tc.stderr, errOut.String())
			}
			if tc.stderr == "" && errOut.Len() != 0 {
				t.Fatalf("stderr should be empty:\n%s", errOut.String())
			}
			if strings.Contains(errOut.String(), "exit status") {
				t.Fatalf("stray exit status on stderr:\n%s", errOut.String())
			}
		})
	}
}

func TestInterruptedExit(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var errOut bytes.Buffer
	if code := report(ctx, context.Canceled, &errOut); code != exitInterrupted {
		t.Fatalf("exit %d", code)
	}
	if code := report(t.Context(), errors.New("x"), &errOut); code != exitFailure {
		t.Fatalf("exit %d", code)
	}
}

func TestCompletionAndVersion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish", "powershell"} {
		var out bytes.Buffer
		if err := execute(t.Context(), []string{"completion", shell}, nil, &out, &out); err != nil || out.Len() < 100 {
			t.Fatalf("completion %s: %v (%d bytes)", shell, err, out.Len())
		}
	}
	// The shell asks the binary for flag values.
	var out bytes.Buffer
	if err := execute(t.Context(), []string{"__complete", "outbox", "list", "--state", ""}, nil, &out, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "dead") || !strings.Contains(out.String(), "superseded") {
		t.Fatalf("state completion:\n%s", out.String())
	}
	out.Reset()
	if err := execute(t.Context(), []string{"version"}, nil, &out, &out); err != nil || !strings.HasPrefix(out.String(), "gatehubctl ") {
		t.Fatalf("version: %v %q", err, out.String())
	}
}

func TestAuditFindFollowsCursors(t *testing.T) {
	var cursors []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := r.URL.Query().Get("cursor")
		cursors = append(cursors, c)
		w.Header().Set("Content-Type", "application/json")
		if c == "" {
			_, _ = w.Write([]byte(`{"entries":[{"seq":1,"time":"2026-12-03T08:00:00Z","kind":"auth.refused","actor":"10.0.0.1"}],"nextCursor":"2"}`))
			return
		}
		_, _ = w.Write([]byte(`{"entries":[{"seq":2,"time":"2026-12-03T08:00:01Z","kind":"decision","actor":"hub"}]}`))
	}))
	defer srv.Close()
	t.Setenv("GATEHUB_URL", srv.URL)
	var out, errOut bytes.Buffer
	if err := execute(t.Context(), []string{"audit", "find", "--kind", "auth.refused"}, nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errOut.String(), "--cursor 2") || strings.Contains(out.String(), "decision") {
		t.Fatalf("one page: %s / %s", out.String(), errOut.String())
	}
	out.Reset()
	cursors = nil
	if err := execute(t.Context(), []string{"audit", "find", "--all"}, nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if strings.Join(cursors, ",") != ",2" || !strings.Contains(out.String(), "auth.refused") || !strings.Contains(out.String(), "decision") {
		t.Fatalf("--all asked %q and printed:\n%s", cursors, out.String())
	}
}
