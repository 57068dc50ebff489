package console

import (
	"io/fs"
	"regexp"
	"testing"
)

// Every label a template or a field spec names has both languages, and
// every dynamic family (role., status., tl., outbox.) is complete.
func TestEveryLabelIsTranslated(t *testing.T) {
	keys := map[string]bool{}
	re := regexp.MustCompile(`\.T[f]? "([A-Za-z.]+)"`)
	err := fs.WalkDir(templateFS, "templates", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(templateFS, path)
		if err != nil {
			return err
		}
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			keys[m[1]] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range formGroups {
		keys[g.Legend] = true
		for _, f := range g.Fields {
			keys[f.Label], keys[f.Hint] = true, f.Hint != ""
		}
	}
	for _, specs := range [][]fieldSpec{driverFields, consignmentFields} {
		for _, f := range specs {
			keys[f.Label], keys[f.Hint] = true, f.Hint != ""
		}
	}
	for _, k := range []string{"role.trader", "role.operator", "role.auditor", "role.admin", "status.active", "status.cancelled",
		"tl.declared", "tl.amended", "tl.queued", "tl.sent", "tl.ack", "tl.nack", "tl.decision", "outbox.redrive", "outbox.cancel",
		"g.driver", "g.consignment"} {
		keys[k] = true
	}
	for _, tab := range outboxTabs {
		keys["outbox."+tab] = true
	}
	for k, used := range keys {
		if !used || k == "" {
			continue
		}
		m, ok := messages[k]
		if !ok || m[0] == "" || m[1] == "" {
			t.Errorf("label %q lacks a translation: %q", k, m)
		}
	}
}
