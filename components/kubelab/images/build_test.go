package images

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// fakeDocker records calls and keeps tags in memory.
type fakeDocker struct {
	images   map[string]string // ref -> image ID
	builds   [][]string        // tags of each Build
	untags   []string
	nextID   int
	failTag  bool
	failSave bool
}

var _ Docker = (*fakeDocker)(nil)

func newFakeDocker() *fakeDocker { return &fakeDocker{images: map[string]string{}} }

func (f *fakeDocker) ImageID(_ context.Context, ref string) (string, error) {
	return f.images[ref], nil
}

func (f *fakeDocker) Build(_ context.Context, dir string, tags []string, _ map[string]string, _ io.Writer) error {
	if _, err := os.Stat(filepath.Join(dir, "Dockerfile")); err != nil {
		return err
	}
	f.nextID++
	for _, t := range tags {
		f.images[t] = fmt.Sprintf("sha256:%d", f.nextID)
	}
	f.builds = append(f.builds, tags)
	return nil
}

func (f *fakeDocker) Tag(_ context.Context, src, dst string) error {
	if f.failTag {
		return fmt.Errorf("tag failed")
	}
	id, ok := f.images[src]
	if !ok {
		return fmt.Errorf("no such image %s", src)
	}
	f.images[dst] = id
	return nil
}

func (f *fakeDocker) Import(_ context.Context, _, ref string) error {
	f.nextID++
	f.images[ref] = fmt.Sprintf("sha256:%d", f.nextID)
	return nil
}

func (f *fakeDocker) Size(context.Context, string) (int64, error) { return 1 << 20, nil }

func (f *fakeDocker) Save(_ context.Context, w io.Writer, refs ...string) error {
	if f.failSave {
		return fmt.Errorf("save failed")
	}
	_, err := io.WriteString(w, strings.Repeat(strings.Join(refs, ","), 100))
	return err
}

func (f *fakeDocker) Tags(_ context.Context, repo string) ([]string, error) {
	var tags []string
	for ref := range f.images {
		if r, tag, ok := strings.Cut(ref, ":"); ok && r == repo {
			tags = append(tags, tag)
		}
	}
	slices.Sort(tags)
	return tags, nil
}

func (f *fakeDocker) Untag(_ context.Context, ref string) error {
	f.untags = append(f.untags, ref)
	delete(f.images, ref)
	return nil
}

func TestEnsureImageBuildsOnlyWhatChanged(t *testing.T) {
	ctx := t.Context()
	d := newFakeDocker()
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\nCOPY bin/app /app\n", "bin/app": "v1"})

	first, err := ensureImage(ctx, d, "app", dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !first.Built || len(d.builds) != 1 {
		t.Fatalf("first build: Built=%t, builds=%v", first.Built, d.builds)
	}
	if want := []string{"kubelab/app:" + first.Tag, "kubelab/app:dev"}; !slices.Equal(d.builds[0], want) {
		t.Errorf("build tags %v, want %v", d.builds[0], want)
	}

	again, err := ensureImage(ctx, d, "app", dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if again.Built || len(d.builds) != 1 || again.Tag != first.Tag {
		t.Fatalf("unchanged context rebuilt: Built=%t tag %s (was %s), builds=%d", again.Built, again.Tag, first.Tag, len(d.builds))
	}

	// :dev moved elsewhere (e.g. another branch's build) comes back without a build.
	d.images["kubelab/app:dev"] = "sha256:other"
	if _, err := ensureImage(ctx, d, "app", dir, nil, nil); err != nil {
		t.Fatal(err)
	}
	if d.images["kubelab/app:dev"] != d.images[first.Ref] || len(d.builds) != 1 {
		t.Errorf("dev not retagged to %s without a build: dev=%s builds=%d", first.Ref, d.images["kubelab/app:dev"], len(d.builds))
	}

	write(t, filepath.Join(dir, "bin/app"), "v2")
	changed, err := ensureImage(ctx, d, "app", dir, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !changed.Built || changed.Tag == first.Tag || len(d.builds) != 2 {
		t.Fatalf("changed binary: Built=%t tag %s (was %s), builds=%d", changed.Built, changed.Tag, first.Tag, len(d.builds))
	}

	withArg, err := ensureImage(ctx, d, "app", dir, map[string]string{"X": "1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !withArg.Built || withArg.Tag == changed.Tag {
		t.Errorf("changed build arg: Built=%t tag %s (was %s)", withArg.Built, withArg.Tag, changed.Tag)
	}
}

func TestEnsureImageTagError(t *testing.T) {
	d := newFakeDocker()
	dir := writeTree(t, map[string]string{"Dockerfile": "FROM scratch\n"})
	if _, err := ensureImage(t.Context(), d, "app", dir, nil, nil); err != nil {
		t.Fatal(err)
	}
	d.failTag = true
	if _, err := ensureImage(t.Context(), d, "app", dir, nil, nil); err == nil {
		t.Error("want the tag error")
	}
}

func TestPruneOldTags(t *testing.T) {
	d := newFakeDocker()
	for _, ref := range []string{"kubelab/app:old1", "kubelab/app:old2", "kubelab/app:new", "kubelab/app:dev", "kubelab/other:old1"} {
		d.images[ref] = "sha256:x"
	}
	pruneOldTags(t.Context(), d, "app", "new")
	slices.Sort(d.untags)
	if want := []string{"kubelab/app:old1", "kubelab/app:old2"}; !slices.Equal(d.untags, want) {
		t.Errorf("untagged %v, want %v", d.untags, want)
	}
}

// fakeRoot lays out a source tree with images/<name>/ and prebuilt binaries.
func fakeRoot(t *testing.T) (Options, map[string]string) {
	t.Helper()
	root := writeTree(t, map[string]string{
		"images/app/Dockerfile":               "FROM scratch\nCOPY rootfs/ /\nCOPY bin/app /app\n",
		"images/app/files/etc/app.conf":       "k = v\n",
		"_output/bin/app":                     "app-binary",
		"_output/cache/tools/k1/tool":         "tool-binary",
		"_output/cache/tools/k1/cni-plugin-a": "cni-binary",
	})
	opts := Options{Root: root}
	opts.defaults()
	return opts, map[string]string{"hack/tools": filepath.Join(root, "_output/cache/tools/k1")}
}

func TestStageContext(t *testing.T) {
	opts, toolDirs := fakeRoot(t)
	spec := Spec{
		Name: "app",
		Binaries: []Binary{
			{Package: "./cmd/app"},
			{Package: "example.com/x/tool", Module: "hack/tools"},
			{Package: "example.com/x/cni-plugin-a", Module: "hack/tools", Dir: "cni"},
		},
		ScratchTmp: true,
	}
	dir := filepath.Join(opts.Output, "images", "app")
	if err := stageContext(opts, toolDirs, spec, dir); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"Dockerfile":         "FROM scratch\nCOPY rootfs/ /\nCOPY bin/app /app\n",
		"files/etc/app.conf": "k = v\n",
		"bin/app":            "app-binary",
		"bin/tool":           "tool-binary",
		"cni/cni-plugin-a":   "cni-binary",
	} {
		got, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", p, got, err, want)
		}
	}
	info, err := os.Stat(filepath.Join(dir, "rootfs", "tmp"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o777 || info.Mode()&os.ModeSticky == 0 {
		t.Errorf("rootfs/tmp mode %v, want drwxrwxrwt", info.Mode())
	}
	h1 := mustHash(t, dir, nil)

	// Staging again (a leftover file is removed) gives the same hash.
	write(t, filepath.Join(dir, "stale"), "x")
	if err := stageContext(opts, toolDirs, spec, dir); err != nil {
		t.Fatal(err)
	}
	if h2 := mustHash(t, dir, nil); h2 != h1 {
		t.Errorf("restaged context hashes %s, was %s", h2, h1)
	}
}

func TestStageContextErrors(t *testing.T) {
	opts, toolDirs := fakeRoot(t)
	tests := []struct {
		name string
		spec Spec
	}{
		{"no Dockerfile", Spec{Name: "missing"}},
		{"binary not built", Spec{Name: "app", Binaries: []Binary{{Package: "./cmd/nope"}}}},
	}
	for _, tc := range tests {
		if err := stageContext(opts, toolDirs, tc.spec, filepath.Join(t.TempDir(), "ctx")); err == nil {
			t.Errorf("%s: want an error", tc.name)
		}
	}
}

func TestMeasureCachesCompressedSize(t *testing.T) {
	opts, _ := fakeRoot(t)
	d := newFakeDocker()
	d.images["kubelab/app:abc"] = "sha256:1"
	opts.Docker, opts.Compressed, opts.SaveDir = d, true, filepath.Join(t.TempDir(), "save")
	res := Result{Name: "app", Tag: "abc", Ref: "kubelab/app:abc"}
	if err := measure(t.Context(), opts, &res); err != nil {
		t.Fatal(err)
	}
	if res.Size != 1<<20 || res.Compressed <= 0 {
		t.Fatalf("size %d compressed %d", res.Size, res.Compressed)
	}
	if want := filepath.Join(opts.SaveDir, "app-abc.tar"); res.Tarball != want {
		t.Errorf("tarball %s, want %s", res.Tarball, want)
	}
	if b, err := os.ReadFile(res.Tarball); err != nil || !strings.Contains(string(b), "kubelab/app:abc,kubelab/app:dev") {
		t.Errorf("tarball holds %.60q, %v; want both tags", b, err)
	}
	first := res.Compressed
	// Both the tarball and the compressed size are cached: no second save.
	opts.Docker = &fakeDocker{images: d.images, failSave: true}
	res2 := Result{Name: "app", Tag: "abc", Ref: "kubelab/app:abc"}
	if err := measure(t.Context(), opts, &res2); err != nil {
		t.Fatal(err)
	}
	if res2.Compressed != first {
		t.Errorf("compressed %d, want cached %d", res2.Compressed, first)
	}
}

func TestPrintTable(t *testing.T) {
	var b bytes.Buffer
	err := PrintTable(&b, []Result{
		{Name: "kube-apiserver", Tag: "0123", Built: true, Size: 50 << 20, Compressed: 17 << 20},
		{Name: "node", Tag: "4567", Size: 260 << 20, Compressed: 99 << 20},
	})
	if err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"kubelab/kube-apiserver", "50.0 MB", "17.0 MB", "50%", "kubelab/node", "cached", "99.0 MB"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestLockOutputSerializesBuilds(t *testing.T) {
	var log bytes.Buffer
	opts := Options{Root: t.TempDir(), Log: &log}
	opts.defaults()
	unlock, err := lockOutput(opts)
	if err != nil {
		t.Fatal(err)
	}
	second := make(chan func(), 1)
	go func() {
		u, err := lockOutput(opts)
		if err != nil {
			t.Error(err)
			u = func() {}
		}
		second <- u
	}()
	select {
	case u := <-second:
		u()
		t.Fatal("second lock taken while the first is held")
	case <-time.After(200 * time.Millisecond):
	}
	unlock()
	select {
	case u := <-second:
		u()
	case <-time.After(10 * time.Second):
		t.Fatal("second lock not taken after unlock")
	}
	if !strings.Contains(log.String(), "Waiting for another image build") {
		t.Errorf("log %q lacks the waiting line", log.String())
	}
}
