package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// outbox redrive takes one message id, or --agency (also spelt -agency) for every dead message of
// one agency; each calls its own endpoint.
func TestOutboxRedrive(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("Authorization"))
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	}))
	defer srv.Close()
	t.Setenv("GATEHUB_URL", srv.URL)
	t.Setenv("GATEHUB_TOKEN", "op")
	tests := []struct {
		args []string
		want string // request seen; "" = refused before any
	}{
		{[]string{"M-1"}, "POST /v1/admin/outbox/M-1/redrive Bearer op"},
		{[]string{"-agency", "guangxi"}, "POST /v1/admin/agencies/guangxi/redrive?limit=200 Bearer op"},
		{[]string{"-agency", "guangxi", "-limit", "50"}, "POST /v1/admin/agencies/guangxi/redrive?limit=50 Bearer op"},
		{[]string{"-agency", "guangxi", "M-1"}, ""},
		{[]string{}, ""},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			got = nil
			var out bytes.Buffer
			err := dispatch(context.Background(), append([]string{"outbox", "redrive"}, tc.args...), &out)
			switch {
			case tc.want == "" && (err == nil || len(got) != 0):
				t.Errorf("err %v, requests %v; want a usage error and no request", err, got)
			case tc.want != "" && (err != nil || len(got) != 1 || got[0] != tc.want):
				t.Errorf("err %v, requests %v; want %q", err, got, tc.want)
			}
		})
	}
}
