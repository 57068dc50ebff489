package yamlfile

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestWalksReportWhereWritten(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte("a: 1\nb: [x, {y: 2}]\na: 3\nc: ~\nd: {e: 1}\n"), &doc); err != nil {
		t.Fatal(err)
	}
	is := Issues{File: "f.yaml"}
	var keys []string
	Pairs(&is, doc.Content[0], "", func(k, v *yaml.Node, path string) {
		keys = append(keys, path)
		switch k.Value {
		case "b":
			Sequence(&is, v, path, func(_ int, c *yaml.Node, p string) { Scalar(&is, c, p) })
		case "c", "d":
			Scalar(&is, v, path)
		}
	})
	Sequence(&is, doc.Content[0], "top", nil)
	if strings.Join(keys, ",") != "a,b,c,d" {
		t.Errorf("keys = %v", keys)
	}
	want := []string{
		"f.yaml:1:1: top: must be a list, got a mapping",
		`f.yaml:2:8: b[1]: must be a single value, got a mapping`,
		"f.yaml:3:1: a: duplicate key (first at 1:1)",
		"f.yaml:4:4: c: must not be empty",
		"f.yaml:5:4: d: must be a single value, got a mapping",
	}
	got := strings.Split(is.Err().Error(), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("issues:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !is.Covers("b[1].y") || is.Covers("e") {
		t.Error("Covers")
	}
	if (&Issues{}).Err() != nil {
		t.Error("no issues is no error")
	}
}
