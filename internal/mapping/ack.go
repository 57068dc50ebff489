package mapping

import (
	"fmt"
	"github.com/gatehub/gatehub/internal/message"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// ParseAck reads an agency ACK/NACK through the same ack.yaml mapping that
// BuildAck writes with, in reverse: every rule whose source is ack.* names
// where that field lives. It refuses a root of the wrong name or namespace
// and any field element that occurs more than once, so a message with a
// smuggled second copy of a field is never read ambiguously. Pass only the
// element that signature verification returned.
func (r *Registry) ParseAck(agency string, root *etree.Element) (AckFields, error) {
	m, err := r.mapping(agency, message.Ack)
	if err != nil {
		return AckFields{}, err
	}
	if root == nil {
		return AckFields{}, fmt.Errorf("parse %s ack: no root element", agency)
	}
	if root.Tag != m.root || root.NamespaceURI() != m.namespace {
		return AckFields{}, fmt.Errorf("parse %s ack: root is {%s}%s, want {%s}%s", agency, root.NamespaceURI(), root.Tag, m.namespace, m.root)
	}
	vals := map[string]string{}
	if err := m.readAck(root, m.rules, vals); err != nil {
		return AckFields{}, fmt.Errorf("parse %s ack: %w", agency, err)
	}
	a := AckFields{
		AckID:        vals["ackId"],
		RefMessageID: vals["refMessageId"],
		Status:       vals["status"],
		ReasonCode:   vals["reasonCode"],
		ReasonText:   vals["reasonText"],
	}
	if a.Status != "ACK" && a.Status != "NACK" {
		return AckFields{}, fmt.Errorf("parse %s ack: status %q is neither ACK nor NACK", agency, a.Status)
	}
	if a.AckID == "" || a.RefMessageID == "" {
		return AckFields{}, fmt.Errorf("parse %s ack: ack id and referenced message id are required", agency)
	}
	if s := vals["issuedAt"]; s != "" {
		if a.IssuedAt, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return AckFields{}, fmt.Errorf("parse %s ack: issued time: %w", agency, err)
		}
	}
	return a, nil
}

func (m *mappingFile) readAck(ctx *etree.Element, rules []*rule, vals map[string]string) error {
	for _, ru := range rules {
		if ru.each != "" {
			continue
		}
		_, key, isAck := strings.Cut(ru.source, ".")
		isAck = isAck && strings.HasPrefix(ru.source, "ack.")
		if !isAck && len(ru.children) == 0 {
			continue
		}
		el, err := m.findUnique(ctx, ru.elems)
		if err != nil {
			return fmt.Errorf("%s:%d %q: %w", ru.file, ru.line, ru.rawPath, err)
		}
		if el == nil {
			if isAck && !ru.optional {
				return fmt.Errorf("%s:%d: required element %s is missing", ru.file, ru.line, ru.rawPath)
			}
			continue
		}
		if isAck {
			var s string
			if ru.attr != "" {
				s = el.SelectAttrValue(ru.attr, "")
			} else {
				if len(el.ChildElements()) > 0 {
					return fmt.Errorf("%s:%d: %s must hold text only", ru.file, ru.line, ru.rawPath)
				}
				s = strings.TrimSpace(el.Text())
			}
			if s != "" {
				for i := len(ru.transforms) - 1; i >= 0; i-- {
					if s, err = ru.transforms[i].reverse(s); err != nil {
						return fmt.Errorf("%s:%d %s: %w", ru.file, ru.line, ru.rawPath, err)
					}
				}
			}
			vals[key] = s
		}
		if err := m.readAck(el, ru.children, vals); err != nil {
			return err
		}
	}
	return nil
}

// findUnique returns the element at elems under ctx (ctx itself for an
// empty path), nil if absent, and an error if any step is ambiguous.
func (m *mappingFile) findUnique(ctx *etree.Element, elems []string) (*etree.Element, error) {
	cur := ctx
	for _, name := range elems {
		var found *etree.Element
		for _, c := range cur.ChildElements() {
			if c.Tag != name || c.NamespaceURI() != m.namespace {
				continue
			}
			if found != nil {
				return nil, fmt.Errorf("element %s occurs more than once", name)
			}
			found = c
		}
		if found == nil {
			return nil, nil
		}
		cur = found
	}
	return cur, nil
}
