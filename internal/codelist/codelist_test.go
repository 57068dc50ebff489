package codelist

import (
	"strings"
	"testing"
	"testing/fstest"
)

const head = "source: test\nversion: \"1\"\n"

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no source", map[string]string{"c/a.yaml": "list: a\nversion: \"1\"\ncodes:\n  X: x\n"}, `c/a.yaml:1: missing required key "source"`},
		{"no version", map[string]string{"c/a.yaml": "list: a\nsource: s\ncodes:\n  X: x\n"}, `missing required key "version"`},
		{"name differs", map[string]string{"c/a.yaml": "list: b\n" + head + "codes:\n  X: x\n"}, `list "b" must match the file name "a"`},
		{"duplicate code", map[string]string{"c/a.yaml": "list: a\n" + head + "codes:\n  X: x\n  X: y\n"}, "duplicate"},
		{"unknown key", map[string]string{"c/a.yaml": "list: a\n" + head + "colour: red\ncodes:\n  X: x\n"}, `c/a.yaml:4: unknown key "colour"`},
		{"bad kind", map[string]string{"c/a.yaml": "list: a\nkind: set\n" + head + "codes:\n  X: x\n"}, "kind must be"},
		{"from on an enumeration", map[string]string{"c/a.yaml": "list: a\nkind: enumeration\nfrom: b\n" + head + "codes:\n  X: x\n"}, "for translations"},
		{"key not in from", map[string]string{
			"c/e.yaml": "list: e\nkind: enumeration\n" + head + "codes:\n  VN: Viet Nam\n",
			"c/t.yaml": "list: t\nfrom: e\n" + head + "codes:\n  VN: \"141\"\n  XK: \"399\"\n",
		}, `c/t.yaml:7: "XK" is not a code of list e`},
		{"incomplete", map[string]string{
			"c/e.yaml": "list: e\nkind: enumeration\n" + head + "codes:\n  VN: Viet Nam\n  CN: China\n",
			"c/t.yaml": "list: t\nfrom: e\ncomplete: true\n" + head + "codes:\n  VN: \"141\"\n",
		}, "code CN of list e has no translation"},
		{"value not in to", map[string]string{
			"c/e.yaml": "list: e\nkind: enumeration\n" + head + "codes:\n  VNDDG: Dong Dang\n",
			"c/t.yaml": "list: t\nto: e\n" + head + "codes:\n  HUUNGHI: VNXXX\n",
		}, `"VNXXX" is not a code of list e`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for n, b := range tc.files {
				fsys[n] = &fstest.MapFile{Data: []byte(b)}
			}
			_, err := Load(fsys, "c")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestTranslateAndInverse(t *testing.T) {
	fsys := fstest.MapFS{
		"c/e.yaml":  {Data: []byte("list: e\nkind: enumeration\n" + head + "codes:\n  VN: Viet Nam\n  CN: China\n")},
		"c/t.yaml":  {Data: []byte("list: t\nfrom: e\ncomplete: true\n" + head + "codes:\n  VN: \"141\"\n  CN: \"142\"\n")},
		"c/nr.yaml": {Data: []byte("list: nr\n" + head + "codes:\n  export: I\n  transit: I\n  import: E\n")},
	}
	s, err := Load(fsys, "c")
	if err != nil {
		t.Fatal(err)
	}
	e, _ := s.Lookup("e")
	if v, ok := e.Translate("VN"); !ok || v != "VN" {
		t.Errorf("an enumeration writes its code: %q %v", v, ok)
	}
	if _, ok := e.Translate("XK"); ok {
		t.Error("an enumeration translated a code it lacks")
	}
	tr, _ := s.Lookup("t")
	if v, _ := tr.Translate("CN"); v != "142" || tr.Inverse()["141"] != "VN" {
		t.Errorf("translation: %q, inverse %v", v, tr.Inverse())
	}
	nr, _ := s.Lookup("nr")
	if nr.Inverse() != nil {
		t.Error("a list with two keys for one code is not reversible")
	}
	if got := strings.Join(nr.Codes(), ","); got != "E,I" {
		t.Errorf("Codes() = %s, want E,I (sorted, without repeats)", got)
	}
	if !s.Has("e", "CN") || s.Has("e", "XK") || s.Has("nope", "CN") {
		t.Error("Has")
	}
}

func TestGenerateXSD(t *testing.T) {
	s, err := Load(fstest.MapFS{"c/e.yaml": {Data: []byte("list: e\nkind: enumeration\nsource: a -- b\nversion: \"1\"\ncodes:\n  B: b\n  A: \"a&b\"\n")}}, "c")
	if err != nil {
		t.Fatal(err)
	}
	src := "<xs:schema>\n  <!-- BEGIN codes e EType -->\n  stale\n  <!-- END codes e -->\n</xs:schema>\n"
	out, regions, err := GenerateXSD([]byte(src), s)
	if err != nil {
		t.Fatal(err)
	}
	got := string(out)
	for _, want := range []string{`<xs:simpleType name="EType">`, `<xs:enumeration value="A"/>`, "Source: a - - b", "  <!-- END codes e -->\n</xs:schema>"} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "stale") || len(regions) != 1 || regions[0] != (Region{List: "e", Type: "EType"}) {
		t.Errorf("regions %v, output:\n%s", regions, got)
	}
	if again, _, _ := GenerateXSD(out, s); string(again) != got {
		t.Error("generating twice changes the output")
	}
	for _, bad := range []string{
		"<!-- BEGIN codes nope T -->\n<!-- END codes nope -->\n",
		"<!-- BEGIN codes e T -->\n<!-- END codes f -->\n",
		"<!-- BEGIN codes e T -->\n",
	} {
		if _, _, err := GenerateXSD([]byte(bad), s); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}
