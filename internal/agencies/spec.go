package agencies

import (
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/gatehub/gatehub/internal/sign"
	"github.com/gatehub/gatehub/internal/yamlfile"
)

// field is one key of an agency file. The same table decodes and checks a
// file (decode) and prints the reference (Reference), so the two cannot
// drift apart.
type field struct {
	key      string
	typ      string // as the reference shows it
	required bool
	def      string // default when omitted, as the reference shows it
	doc      string
	// decode reads and checks the value at n; nested mappings have fields
	// instead.
	decode func(d *decoder, n *yaml.Node, path string, a *Agency)
	fields []field
}

// Limits of values an agency file may set.
const (
	maxTimeout     = 5 * time.Minute
	maxAckDeadline = 24 * time.Hour
	maxConcurrency = 64
)

// Defaults of omitted fields.
const (
	DefaultContentType = "application/xml; charset=utf-8"
	defaultTimeout     = 30 * time.Second
	defaultConcurrency = 4
)

var (
	reasonCode = regexp.MustCompile(`^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$`)
	headerName = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
)

// reservedHeaders are set by the hub on every delivery; an agency file may
// not override them.
var reservedHeaders = []string{"Content-Type", "Content-Length", "Idempotency-Key", "X-Gatehub-Message-Id", "Host", "Traceparent"}

// spec is the agency file format.
func spec() []field {
	return []field{
		{key: "code", typ: "string", required: true,
			doc: "agency code: 2-32 lower-case letters and digits, a letter first; equals the file name (`<code>.yaml`), the directory of its mappings and schemas by default, its callback path `/v1/acks/<code>` and its trust-store participant",
			decode: func(d *decoder, n *yaml.Node, p string, a *Agency) {
				if v, ok := d.scalar(n, p); ok {
					if !ValidCode(v) {
						d.is.Add(yamlfile.NodePos(n), p, "%q is not an agency code (2-32 lower-case letters and digits, a letter first)", v)
						return
					}
					a.Code = Code(v)
				}
			}},
		{key: "names", typ: "mapping", required: true, doc: "display names", fields: []field{
			{key: "vi", typ: "string", required: true, doc: "Vietnamese name", decode: text(func(a *Agency) *string { return &a.Names.VI })},
			{key: "en", typ: "string", required: true, doc: "English name", decode: text(func(a *Agency) *string { return &a.Names.EN })},
			{key: "zh", typ: "string", doc: "Chinese name (shown beside Guangxi's fields)", decode: text(func(a *Agency) *string { return &a.Names.ZH })},
		}},
		{key: "mappings", typ: "path", def: "the code", doc: "directory of its message mappings, relative to the hub's `mappings/`",
			decode: dir(func(a *Agency) *string { return &a.Mappings })},
		{key: "schemas", typ: "path", def: "the code", doc: "directory of its XSDs, relative to the hub's `schemas/`",
			decode: dir(func(a *Agency) *string { return &a.Schemas })},
		{key: "endpoint", typ: "mapping", doc: "how the hub delivers to it", fields: []field{
			{key: "url", typ: "URL", def: "none: set by the deployment",
				doc: "message endpoint (http or https); `GATEHUB_AGENCY_<CODE>_URL` or `agencyURLs.<code>` in the hub configuration override it",
				decode: func(d *decoder, n *yaml.Node, p string, a *Agency) {
					v, ok := d.scalar(n, p)
					if !ok {
						return
					}
					if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
						d.is.Add(yamlfile.NodePos(n), p, "%q is not an http(s) URL", v)
						return
					}
					a.Endpoint.URL = v
				}},
			{key: "contentType", typ: "media type", def: "`" + DefaultContentType + "`", doc: "Content-Type of the hub's POST",
				decode: func(d *decoder, n *yaml.Node, p string, a *Agency) {
					v, ok := d.scalar(n, p)
					if !ok {
						return
					}
					if _, _, err := mime.ParseMediaType(v); err != nil {
						d.is.Add(yamlfile.NodePos(n), p, "%q is not a media type: %v", v, err)
						return
					}
					a.Endpoint.ContentType = v
				}},
			{key: "headers", typ: "mapping of strings", doc: "extra HTTP headers on every POST (not " + strings.Join(reservedHeaders, ", ") + ")",
				decode: func(d *decoder, n *yaml.Node, p string, a *Agency) {
					a.Endpoint.Headers = map[string]string{}
					d.pairs(n, p, func(k *yaml.Node, v *yaml.Node, kp string) {
						if !headerName.MatchString(k.Value) {
							d.is.Add(yamlfile.NodePos(k), kp, "%q is not an HTTP header name", k.Value)
							return
						}
						if slices.ContainsFunc(reservedHeaders, func(h string) bool { return strings.EqualFold(h, k.Value) }) {
							d.is.Add(yamlfile.NodePos(k), kp, "header %s is set by the hub", http.CanonicalHeaderKey(k.Value))
							return
						}
						if s, ok := d.scalar(v, kp); ok {
							a.Endpoint.Headers[http.CanonicalHeaderKey(k.Value)] = s
						}
					})
				}},
			{key: "timeout", typ: "duration", def: defaultTimeout.String(), doc: "bound of one POST, at most " + maxTimeout.String(),
				decode: duration(func(a *Agency) *time.Duration { return &a.Endpoint.Timeout }, maxTimeout)},
			{key: "concurrency", typ: "integer", def: strconv.Itoa(defaultConcurrency), doc: fmt.Sprintf("deliveries in flight to it at once, 1-%d", maxConcurrency),
				decode: func(d *decoder, n *yaml.Node, p string, a *Agency) {
					v, ok := d.scalar(n, p)
					if !ok {
						return
					}
					i, err := strconv.Atoi(v)
					if err != nil || n.Tag != "!!int" || i < 1 || i > maxConcurrency {
						d.is.Add(yamlfile.NodePos(n), p, "must be a whole number from 1 to %d, got %q", maxConcurrency, v)
						return
					}
					a.Endpoint.Concurrency = i
				}},
			{key: "ackMode", typ: strings.Join(ackModes, " \\| "), def: AckAny,
				doc:    "how it answers: `sync` 200 with the signed ACK, `async` 202 and the ACK on the callback, `any` either",
				decode: oneOf(func(a *Agency) *string { return &a.Endpoint.AckMode }, ackModes)},
		}},
		{key: "ackDeadline", typ: "duration", required: true,
			doc:    "how long it has to answer a delivered message before the truck's decision lists it as overdue, where a gate's `policy.ackDeadlines` sets none; at most " + maxAckDeadline.String(),
			decode: duration(func(a *Agency) *time.Duration { return &a.AckDeadline }, maxAckDeadline)},
		{key: "signature", typ: sign.DefaultProfile.Name + " \\| " + sign.SM2Profile.Name, def: sign.DefaultProfile.Name,
			doc: "signature profile: how the hub signs messages to it and how its answers must be signed",
			decode: func(d *decoder, n *yaml.Node, p string, a *Agency) {
				v, ok := d.scalar(n, p)
				if !ok {
					return
				}
				prof, err := sign.ProfileByName(v)
				if err != nil {
					d.is.Add(yamlfile.NodePos(n), p, "%v", err)
					return
				}
				a.Signature = prof
			}},
		{key: "certificates", typ: "list of paths",
			doc: "PEM certificates trusted for its signatures (relative to this file's directory); more may be imported into the trust store",
			decode: func(d *decoder, n *yaml.Node, p string, a *Agency) {
				a.Certificates = d.strs(n, p, func(v string, c *yaml.Node, cp string) bool {
					if !strings.HasSuffix(v, ".pem") {
						d.is.Add(yamlfile.NodePos(c), cp, "%q: certificates are PEM files (*.pem)", v)
						return false
					}
					return true
				})
			}},
		{key: "receives", typ: "list of " + strings.Join(receiveKinds, ", "), required: true,
			doc: "message kinds the hub sends it; each needs a mapping `<mappings>/<kind>.yaml`; `submit` is required",
			decode: func(d *decoder, n *yaml.Node, p string, a *Agency) {
				a.Receives = d.kinds(n, p, receiveKinds)
				if a.Receives != nil && !slices.Contains(a.Receives, KindSubmit) {
					d.is.Add(yamlfile.NodePos(n), p, "an agency receives at least %q", KindSubmit)
				}
			}},
		{key: "sends", typ: "list of " + strings.Join(sendKinds, ", "),
			doc:    "agency-initiated signed messages it may send the hub; any other kind it sends is refused",
			decode: func(d *decoder, n *yaml.Node, p string, a *Agency) { a.Sends = d.kinds(n, p, sendKinds) }},
		{key: "forward", typ: "mapping of kind → list of codes",
			doc: "routing: per kind it sends, the agencies the hub forwards the verified message to (re-enveloped, hub-signed); each kind must be in `sends`, each code a known agency other than this one",
			decode: func(d *decoder, n *yaml.Node, p string, a *Agency) {
				a.Forward = map[string][]Code{}
				d.pairs(n, p, func(k, v *yaml.Node, kp string) {
					if !slices.Contains(sendKinds, k.Value) {
						d.is.Add(yamlfile.NodePos(k), kp, "unknown kind %q (allowed: %s)", k.Value, strings.Join(sendKinds, ", "))
						return
					}
					var codes []Code
					d.strs(v, kp, func(s string, c *yaml.Node, cp string) bool {
						if !ValidCode(s) {
							d.is.Add(yamlfile.NodePos(c), cp, "%q is not an agency code", s)
							return false
						}
						if slices.Contains(codes, Code(s)) {
							d.is.Add(yamlfile.NodePos(c), cp, "agency %q listed twice", s)
							return false
						}
						codes = append(codes, Code(s))
						return true
					})
					if len(codes) == 0 && v.Kind == yaml.SequenceNode && len(v.Content) == 0 {
						d.is.Add(yamlfile.NodePos(v), kp, "empty list forwards to nobody; omit the kind")
					}
					a.Forward[k.Value] = codes
				})
			}},
		{key: "reasons", typ: "mapping of code → {vi, en}",
			doc: "display texts of its reason codes (NACK, HOLD, REVOKE), upper-case codes such as `PQ-CERT-MISSING`; an unlisted code is shown as it comes",
			decode: func(d *decoder, n *yaml.Node, p string, a *Agency) {
				a.Reasons = map[string]Text{}
				d.pairs(n, p, func(k, v *yaml.Node, kp string) {
					if !reasonCode.MatchString(k.Value) {
						d.is.Add(yamlfile.NodePos(k), kp, "%q is not a reason code (upper-case letters and digits, dash-separated)", k.Value)
						return
					}
					var t Text
					d.mapping(v, kp, []field{
						{key: "vi", required: true, decode: text(func(*Agency) *string { return &t.VI })},
						{key: "en", required: true, decode: text(func(*Agency) *string { return &t.EN })},
					}, a)
					a.Reasons[k.Value] = t
				})
			}},
	}
}

// text decodes a non-empty string.
func text(dst func(*Agency) *string) func(*decoder, *yaml.Node, string, *Agency) {
	return func(d *decoder, n *yaml.Node, p string, a *Agency) {
		if v, ok := d.scalar(n, p); ok {
			if strings.TrimSpace(v) == "" {
				d.is.Add(yamlfile.NodePos(n), p, "must not be empty")
				return
			}
			*dst(a) = strings.TrimSpace(v)
		}
	}
}

// dir decodes a relative directory that stays inside its parent.
func dir(dst func(*Agency) *string) func(*decoder, *yaml.Node, string, *Agency) {
	return func(d *decoder, n *yaml.Node, p string, a *Agency) {
		v, ok := d.scalar(n, p)
		if !ok {
			return
		}
		if c := path.Clean(v); v == "" || path.IsAbs(v) || c == ".." || strings.HasPrefix(c, "../") {
			d.is.Add(yamlfile.NodePos(n), p, "%q must be a relative directory inside its parent", v)
			return
		}
		*dst(a) = path.Clean(v)
	}
}

func duration(dst func(*Agency) *time.Duration, most time.Duration) func(*decoder, *yaml.Node, string, *Agency) {
	return func(d *decoder, n *yaml.Node, p string, a *Agency) {
		v, ok := d.scalar(n, p)
		if !ok {
			return
		}
		dur, err := time.ParseDuration(v)
		if err != nil {
			d.is.Add(yamlfile.NodePos(n), p, "must be a Go duration such as 15m or 90s, got %q", v)
			return
		}
		if dur <= 0 || dur > most {
			d.is.Add(yamlfile.NodePos(n), p, "must be positive and at most %s, got %s", most, dur)
			return
		}
		*dst(a) = dur
	}
}

func oneOf(dst func(*Agency) *string, allowed []string) func(*decoder, *yaml.Node, string, *Agency) {
	return func(d *decoder, n *yaml.Node, p string, a *Agency) {
		v, ok := d.scalar(n, p)
		if !ok {
			return
		}
		if !slices.Contains(allowed, v) {
			d.is.Add(yamlfile.NodePos(n), p, "unknown value %q (allowed: %s)", v, strings.Join(allowed, ", "))
			return
		}
		*dst(a) = v
	}
}
