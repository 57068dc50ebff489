// Package deploy_test checks the deployment files that no other test
// exercises: every YAML document under compose/, k8s/, prometheus/ and grafana/
// parses, Kubernetes objects are complete and refer to each other
// consistently, the gate ConfigMap holds exactly deploy/gates/*.yaml, every
// GATEHUB_* variable set anywhere is one the hub reads, and the Dockerfile
// copies what exists.
//
// Regenerate k8s/gates-configmap.yaml after editing a gate file:
//
//	go test ./deploy -run TestGatesConfigMap -update
package deploy_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/gatehub/gatehub/internal/agencies"
	"github.com/gatehub/gatehub/internal/config"
)

var update = flag.Bool("update", false, "rewrite generated files (k8s/gates-configmap.yaml)")

// yamlFiles lists the YAML files of the deployment directories.
func yamlFiles(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, dir := range []string{"compose", "k8s", "prometheus", "grafana"} {
		err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sort.Strings(out)
	if len(out) == 0 {
		t.Fatal("no YAML files found; run the test from deploy/")
	}
	return out
}

// documents decodes every YAML document of path.
func documents(t *testing.T, path string) []map[string]any {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []map[string]any
	for {
		var doc map[string]any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
	return docs
}

func m(v any) map[string]any { r, _ := v.(map[string]any); return r }
func l(v any) []any          { r, _ := v.([]any); return r }
func s(v any) string         { r, _ := v.(string); return r }

// dig follows keys through nested maps.
func dig(v any, keys ...string) any {
	for _, k := range keys {
		v = m(v)[k]
	}
	return v
}

func TestYAMLWellFormed(t *testing.T) {
	for _, path := range yamlFiles(t) {
		t.Run(path, func(t *testing.T) {
			if len(documents(t, path)) == 0 {
				t.Errorf("no YAML document")
			}
		})
	}
}

type k8sObject struct {
	file string
	doc  map[string]any
}

func (o k8sObject) kind() string { return s(o.doc["kind"]) }
func (o k8sObject) name() string { return s(dig(o.doc, "metadata", "name")) }

func k8sObjects(t *testing.T) []k8sObject {
	t.Helper()
	var out []k8sObject
	for _, path := range yamlFiles(t) {
		if !strings.HasPrefix(path, "k8s"+string(filepath.Separator)) || filepath.Base(path) == "kustomization.yaml" {
			continue
		}
		for _, doc := range documents(t, path) {
			out = append(out, k8sObject{path, doc})
		}
	}
	return out
}

func TestK8sObjectsComplete(t *testing.T) {
	for _, o := range k8sObjects(t) {
		t.Run(o.file+"/"+o.kind()+"/"+o.name(), func(t *testing.T) {
			if s(o.doc["apiVersion"]) == "" || o.kind() == "" {
				t.Fatalf("object without apiVersion/kind")
			}
			if o.name() == "" {
				t.Errorf("object without metadata.name")
			}
			if ns := s(dig(o.doc, "metadata", "namespace")); o.kind() != "Namespace" && ns != "gatehub" {
				t.Errorf("metadata.namespace = %q, want gatehub", ns)
			}
		})
	}
}

func TestKustomization(t *testing.T) {
	docs := documents(t, filepath.Join("k8s", "kustomization.yaml"))
	k := docs[0]
	if k["kind"] != "Kustomization" {
		t.Fatalf("kind = %v", k["kind"])
	}
	listed := map[string]bool{}
	for _, r := range l(k["resources"]) {
		listed[s(r)] = true
		if _, err := os.Stat(filepath.Join("k8s", s(r))); err != nil {
			t.Errorf("resource %s: %v", s(r), err)
		}
	}
	if listed["secret.yaml"] {
		t.Errorf("secret.yaml must not be a resource: apply -k would overwrite real keys with placeholders")
	}
	files, _ := filepath.Glob(filepath.Join("k8s", "*.yaml"))
	for _, f := range files {
		base := filepath.Base(f)
		if base != "kustomization.yaml" && base != "secret.yaml" && !listed[base] {
			t.Errorf("%s is not listed in kustomization.yaml resources", base)
		}
	}
}

func TestK8sDeployment(t *testing.T) {
	objs := k8sObjects(t)
	defined := map[string]k8sObject{}
	var dep map[string]any
	for _, o := range objs {
		defined[o.kind()+"/"+o.name()] = o
		if o.kind() == "Deployment" {
			dep = o.doc
		}
	}
	if dep == nil {
		t.Fatal("no Deployment")
	}
	if r, _ := dig(dep, "spec", "replicas").(int); r != 2 {
		t.Errorf("replicas = %v, want 2", dig(dep, "spec", "replicas"))
	}
	pod := m(dig(dep, "spec", "template", "spec"))
	if dig(pod, "securityContext", "runAsNonRoot") != true {
		t.Errorf("pod securityContext.runAsNonRoot is not true")
	}
	containers := l(pod["containers"])
	if len(containers) != 1 {
		t.Fatalf("%d containers, want 1", len(containers))
	}
	c := m(containers[0])
	for probe, path := range map[string]string{"readinessProbe": "/readyz", "livenessProbe": "/healthz"} {
		if got := dig(c, probe, "httpGet", "path"); got != path {
			t.Errorf("%s path = %v, want %s", probe, got, path)
		}
	}
	if dig(c, "securityContext", "readOnlyRootFilesystem") != true || dig(c, "securityContext", "allowPrivilegeEscalation") != false {
		t.Errorf("container must have a read-only root filesystem and no privilege escalation")
	}
	if dig(c, "resources", "requests") == nil || dig(c, "resources", "limits") == nil {
		t.Errorf("container without resource requests and limits")
	}

	volumes := map[string]map[string]any{}
	for _, v := range l(pod["volumes"]) {
		volumes[s(m(v)["name"])] = m(v)
	}
	mounts := map[string]bool{}
	for _, vm := range l(c["volumeMounts"]) {
		vm := m(vm)
		mounts[s(vm["mountPath"])] = true
		v := volumes[s(vm["name"])]
		if v == nil {
			t.Errorf("volumeMount %s names no volume", s(vm["name"]))
			continue
		}
		// A subPath must be a key of the Secret it comes from.
		if sub := s(vm["subPath"]); sub != "" {
			sec, ok := defined["Secret/"+s(dig(v, "secret", "secretName"))]
			if ok && dig(sec.doc, "stringData", sub) == nil && dig(sec.doc, "data", sub) == nil {
				t.Errorf("subPath %s is not a key of Secret %s", sub, sec.name())
			}
		}
	}
	if volumes["tmp"] == nil || volumes["tmp"]["emptyDir"] == nil || !mounts["/tmp"] {
		t.Errorf("/tmp must be an emptyDir (the root filesystem is read-only)")
	}
	if !mounts["/etc/gatehub/gates"] {
		t.Errorf("gate files are not mounted at /etc/gatehub/gates")
	}

	// Every ConfigMap and Secret the pod needs is defined (secret.yaml
	// holds the placeholders of the Secrets).
	var refs []string
	for _, v := range volumes {
		if n := s(dig(v, "configMap", "name")); n != "" {
			refs = append(refs, "ConfigMap/"+n)
		}
		if n := s(dig(v, "secret", "secretName")); n != "" {
			refs = append(refs, "Secret/"+n)
		}
	}
	for _, e := range l(c["envFrom"]) {
		if n := s(dig(e, "configMapRef", "name")); n != "" {
			refs = append(refs, "ConfigMap/"+n)
		}
		if n := s(dig(e, "secretRef", "name")); n != "" {
			refs = append(refs, "Secret/"+n)
		}
	}
	for _, ref := range refs {
		if _, ok := defined[ref]; !ok {
			t.Errorf("the Deployment uses %s, which no file under k8s/ defines", ref)
		}
	}

	// The Service and the PodDisruptionBudget select the Deployment's pods.
	labels := m(dig(dep, "spec", "template", "metadata", "labels"))
	for _, key := range []string{"Service/gatehub", "PodDisruptionBudget/gatehub"} {
		o, ok := defined[key]
		if !ok {
			t.Errorf("%s is missing", key)
			continue
		}
		sel := m(dig(o.doc, "spec", "selector"))
		if o.kind() == "PodDisruptionBudget" {
			sel = m(sel["matchLabels"])
			if dig(o.doc, "spec", "minAvailable") != 1 {
				t.Errorf("PodDisruptionBudget minAvailable = %v, want 1", dig(o.doc, "spec", "minAvailable"))
			}
		}
		if len(sel) == 0 {
			t.Errorf("%s has no selector", key)
		}
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s selects %s=%v, which the pods do not carry", key, k, v)
			}
		}
	}
}

const gatesConfigMapHeader = `# GENERATED from deploy/gates/*.yaml by
#   go test ./deploy -run TestGatesConfigMap -update
# Do not edit: edit the gate file and regenerate (the test fails while they differ).
`

// TestGatesConfigMap keeps k8s/gates-configmap.yaml equal to the gate files.
func TestGatesConfigMap(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("gates", "*.yaml"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no gate files: %v", err)
	}
	want := map[string]string{}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		want[filepath.Base(p)] = string(data)
	}
	target := filepath.Join("k8s", "gates-configmap.yaml")
	if *update {
		cm := map[string]any{
			"apiVersion": "v1",
			"kind":       "ConfigMap",
			"metadata": map[string]any{
				"name": "gatehub-gates", "namespace": "gatehub",
				"labels": map[string]any{"app.kubernetes.io/name": "gatehub"},
			},
			"data": want,
		}
		var buf bytes.Buffer
		buf.WriteString(gatesConfigMapHeader)
		enc := yaml.NewEncoder(&buf)
		enc.SetIndent(2)
		if err := enc.Encode(cm); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(target, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	docs := documents(t, target)
	if len(docs) != 1 || docs[0]["kind"] != "ConfigMap" || dig(docs[0], "metadata", "name") != "gatehub-gates" {
		t.Fatalf("%s is not the ConfigMap gatehub-gates", target)
	}
	got := m(docs[0]["data"])
	for name, content := range want {
		if s(got[name]) != content {
			t.Errorf("%s: data[%s] differs from gates/%s; regenerate with -update", target, name, name)
		}
	}
	for name := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: data[%s] has no gate file; regenerate with -update", target, name)
		}
	}
}

// knownEnv returns every environment variable the hub's configuration
// reads, by asking config.Load.
func knownEnv(t *testing.T) map[string]bool {
	t.Helper()
	asked := map[string]bool{}
	_, _ = config.Load("", func(name string) string {
		asked[name] = true
		if name == "GATEHUB_AGENCIES_DIR" {
			return "agencies" // the agencies' endpoint variables are asked per agency file
		}
		return ""
	})
	if !asked["GATEHUB_DATABASE_URL"] {
		t.Fatal("config.Load did not ask for GATEHUB_DATABASE_URL; the probe is broken")
	}
	return asked
}

var envName = regexp.MustCompile(`\bGATEHUB_[A-Z0-9_]+`)

// TestEnvironmentNames: a misspelt variable would be silently ignored.
func TestEnvironmentNames(t *testing.T) {
	known := knownEnv(t)
	files := append(yamlFiles(t), "Dockerfile")
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			for _, name := range envName.FindAllString(line, -1) {
				if !known[name] {
					t.Errorf("%s:%d: %s is not read by the hub's configuration", f, i+1, name)
				}
			}
		}
	}
}

func TestCompose(t *testing.T) {
	doc := documents(t, filepath.Join("compose", "docker-compose.yaml"))[0]
	services := m(doc["services"])
	for _, name := range []string{"postgres", "redis", "keys-init", "agencysim", "hub-1", "hub-2", "gatesim", "prometheus", "grafana"} {
		if services[name] == nil {
			t.Errorf("service %s is missing", name)
		}
	}
	publicURLs := map[string]string{}
	for _, name := range []string{"hub-1", "hub-2"} {
		env := m(dig(services, name, "environment"))
		for _, key := range []string{"GATEHUB_DATABASE_URL", "GATEHUB_REDIS_URL", "GATEHUB_PUBLIC_URL", "GATEHUB_INSTANCE_ID",
			"GATEHUB_AGENCY_CUSTOMS_URL", "GATEHUB_AGENCY_BORDERGUARD_URL", "GATEHUB_AGENCY_VEHICLEREGISTRY_URL", "GATEHUB_AGENCY_GUANGXI_URL"} {
			if s(env[key]) == "" {
				t.Errorf("%s: %s is not set", name, key)
			}
		}
		if env["GATEHUB_SIMULATORS"] != "false" {
			t.Errorf("%s: GATEHUB_SIMULATORS = %v, want \"false\"", name, env["GATEHUB_SIMULATORS"])
		}
		if !strings.HasPrefix(s(env["GATEHUB_DATABASE_URL"]), "postgres://") || !strings.Contains(s(env["GATEHUB_DATABASE_URL"]), "@postgres:") {
			t.Errorf("%s: GATEHUB_DATABASE_URL does not point at the postgres service", name)
		}
		if !strings.HasPrefix(s(env["GATEHUB_REDIS_URL"]), "redis://redis:") {
			t.Errorf("%s: GATEHUB_REDIS_URL does not point at the redis service", name)
		}
		known, err := agencies.LoadDir("agencies")
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range known.Strings() {
			url := s(env[config.EndpointEnv(a)])
			if want := "http://agencysim:8081/" + a + "/messages"; url != want {
				t.Errorf("%s: agency %s URL = %q, want %q", name, a, url, want)
			}
		}
		publicURLs[name] = s(env["GATEHUB_PUBLIC_URL"])
	}
	if publicURLs["hub-1"] == publicURLs["hub-2"] {
		t.Errorf("both hubs have GATEHUB_PUBLIC_URL %q", publicURLs["hub-1"])
	}
	// Bind mounts refer to files of the repository.
	for name, svc := range services {
		for _, v := range l(m(svc)["volumes"]) {
			src, _, _ := strings.Cut(s(v), ":")
			if strings.HasPrefix(src, ".") {
				if _, err := os.Stat(filepath.Join("compose", src)); err != nil {
					t.Errorf("service %s mounts %s: %v", name, src, err)
				}
			}
		}
	}
}

func TestPrometheus(t *testing.T) {
	doc := documents(t, filepath.Join("prometheus", "prometheus.yml"))[0]
	var targets []string
	for _, sc := range l(doc["scrape_configs"]) {
		if dig(sc, "job_name") != "gatehub" {
			continue
		}
		for _, st := range l(dig(sc, "static_configs")) {
			for _, target := range l(dig(st, "targets")) {
				targets = append(targets, s(target))
			}
		}
	}
	for _, want := range []string{"hub-1:8080", "hub-2:8080"} {
		if !slices.Contains(targets, want) {
			t.Errorf("job gatehub does not scrape %s (targets %v)", want, targets)
		}
	}
	alerts := documents(t, filepath.Join("prometheus", "alerts.yml"))[0]
	n := 0
	for _, g := range l(alerts["groups"]) {
		for _, r := range l(dig(g, "rules")) {
			n++
			if s(dig(r, "alert")) == "" || s(dig(r, "expr")) == "" {
				t.Errorf("alert rule without alert name or expr: %v", r)
			}
		}
	}
	if n == 0 {
		t.Errorf("alerts.yml has no rules")
	}
}

// TestDockerfile checks the parts of the image that the hub depends on.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(data)
	for _, want := range []string{
		"golang:1.26-bookworm", "debian:bookworm-slim", "libxml2-dev", "libxml2 ", "ca-certificates",
		"CGO_ENABLED=1", "HEALTHCHECK", "/healthz", "USER 10001",
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile does not contain %q", want)
		}
	}
	// Built commands and copied directories exist (paths are relative to
	// the repository root, the build context).
	for _, m := range regexp.MustCompile(`\./cmd/[a-z]+`).FindAllString(df, -1) {
		if _, err := os.Stat(filepath.Join("..", m)); err != nil {
			t.Errorf("Dockerfile builds %s: %v", m, err)
		}
	}
	for _, line := range strings.Split(df, "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "COPY" || strings.HasPrefix(f[1], "--") {
			continue
		}
		for _, src := range f[1 : len(f)-1] {
			if src == "." {
				continue
			}
			matches, _ := filepath.Glob(filepath.Join("..", src))
			if len(matches) == 0 {
				t.Errorf("Dockerfile copies %s, which does not exist", src)
			}
		}
	}
	entries, _ := os.ReadDir(filepath.Join("..", "cmd"))
	for _, e := range entries {
		if e.IsDir() && !strings.Contains(df, "./cmd/"+e.Name()) {
			t.Errorf("cmd/%s is not built into the image", e.Name())
		}
	}

	// Every base image is pinned by digest, through the ARG defaults the
	// FROM lines use (the digests must be refreshed by whoever updates the
	// bases; see the Dockerfile).
	args := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^ARG ([A-Z_]+)=(\S*)$`).FindAllStringSubmatch(df, -1) {
		if _, seen := args[m[1]]; !seen {
			args[m[1]] = m[2]
		}
	}
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) != 2 {
		t.Errorf("%d FROM lines, want 2 (build, runtime)", len(froms))
	}
	pinned := regexp.MustCompile(`^[a-z0-9./-]+:[a-zA-Z0-9._-]+@sha256:[0-9a-f]{64}$`)
	for _, f := range froms {
		image := f[1]
		if name, ok := strings.CutPrefix(image, "${"); ok {
			image = args[strings.TrimSuffix(name, "}")]
		}
		if !pinned.MatchString(image) {
			t.Errorf("FROM %s (%s) is not pinned by digest (name:tag@sha256:…)", f[1], image)
		}
	}

	// OCI labels, and a version stamp that reaches the version package.
	for _, label := range []string{"title", "description", "source", "version", "revision", "created"} {
		if !strings.Contains(df, "org.opencontainers.image."+label+"=") {
			t.Errorf("no OCI label org.opencontainers.image.%s", label)
		}
	}
	versionSrc, err := os.ReadFile(filepath.Join("..", "internal", "version", "version.go"))
	if err != nil {
		t.Fatal(err)
	}
	stamps := regexp.MustCompile(`-X github\.com/gatehub/gatehub/internal/version\.([a-zA-Z]+)=`).FindAllStringSubmatch(df, -1)
	if len(stamps) < 2 {
		t.Errorf("the build does not stamp the version and commit (-ldflags -X …/internal/version.…)")
	}
	for _, st := range stamps {
		if !regexp.MustCompile(`(?m)^\s+` + st[1] + `\s+string\b`).Match(versionSrc) {
			t.Errorf("-X sets version.%s, which internal/version does not declare as a string variable", st[1])
		}
	}
	if !strings.Contains(df, "/out/gatehubd -version") {
		t.Errorf("the build does not run gatehubd -version")
	}
}

// TestDockerignore: the build context leaves out the repository history,
// local data and keys, and keeps what the image build needs.
func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns[strings.TrimSuffix(strings.TrimPrefix(line, "/"), "/")] = true
		}
	}
	for _, want := range []string{".git", "data", "bin", "*.test"} {
		if !patterns[want] {
			t.Errorf(".dockerignore does not exclude %s", want)
		}
	}
	// What the Dockerfile copies or builds must stay in the context.
	for _, need := range []string{"go.mod", "go.sum", "cmd", "internal", "adapters", "schemas", "mappings", "deploy/gates", "deploy/migrations", "deploy", "."} {
		if patterns[need] || patterns[need+"/**"] || patterns[need+"/*"] {
			t.Errorf(".dockerignore excludes %s, which the image build needs", need)
		}
	}
}
