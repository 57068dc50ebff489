package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// hubClient calls a running hub's HTTP API.
type hubClient struct {
	base  string
	token string
	http  *http.Client
}

func newHubClient() *hubClient {
	base := os.Getenv("GATEHUB_URL")
	if base == "" {
		base = "http://127.0.0.1:8080"
	}
	return &hubClient{base: base, token: os.Getenv("GATEHUB_TOKEN"), http: &http.Client{Timeout: 30 * time.Second}}
}

// call performs one request and decodes a JSON answer into out (if not
// nil). A problem+json answer becomes an error showing its details.
func (c *hubClient) call(ctx context.Context, method, path, contentType string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return hubError{status: 0, err: fmt.Errorf("%s %s: %w", method, c.base+path, err)}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		var p struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
			Errors []struct {
				Pointer string `json:"pointer"`
				Detail  string `json:"detail"`
			} `json:"errors"`
		}
		if json.Unmarshal(data, &p) == nil && p.Title != "" {
			var b bytes.Buffer
			fmt.Fprintf(&b, "HTTP %d %s", resp.StatusCode, p.Title)
			if p.Detail != "" {
				fmt.Fprintf(&b, ": %s", p.Detail)
			}
			for _, e := range p.Errors {
				fmt.Fprintf(&b, "\n  %s %s", e.Pointer, e.Detail)
			}
			return hubError{status: resp.StatusCode, err: errors.New(b.String())}
		}
		return hubError{status: resp.StatusCode, err: fmt.Errorf("%s %s: HTTP %d: %s", method, path, resp.StatusCode, bytes.TrimSpace(data))}
	}
	if out == nil {
		return nil
	}
	if raw, ok := out.(*json.RawMessage); ok {
		*raw = data
		return nil
	}
	return json.Unmarshal(data, out)
}

// hubError is a request the hub refused (4xx) or could not serve (5xx,
// or no answer at all: status 0).
type hubError struct {
	status int
	err    error
}

func (e hubError) Error() string { return e.err.Error() }
func (e hubError) Unwrap() error { return e.err }

func (e hubError) ExitCode() int {
	if e.status >= 400 && e.status < 500 {
		return exitRefused
	}
	return exitUnavailable
}

func printJSON(out io.Writer, raw json.RawMessage) error {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		_, err = out.Write(raw)
		return err
	}
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
