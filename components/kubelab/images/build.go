// Package images builds kubelab's container images offline: binaries are
// compiled on the host and copied into images/<name>/Dockerfile's context,
// and each image is tagged kubelab/<name>:<hash of its build context and
// build args>, so an image whose inputs did not change is never rebuilt.
// kubelab/<name>:dev always points at the newest build.
package images

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Options configure a build.
type Options struct {
	// Root is the kubelab source tree (with go.mod, images/, hack/).
	Root string
	// Output is where binaries, contexts and caches go (default Root/_output).
	Output string
	// Go is the go command (default "go").
	Go string
	// Docker talks to the engine (default the docker CLI).
	Docker Docker
	// KubernetesVersion is written to the node's /kind/version.
	KubernetesVersion string
	// SaveDir, when set, receives a `docker save` tarball of each image
	// (both its content tag and :dev), named <name>-<hash>.tar.
	SaveDir string
	// Compressed measures each image's gzip-compressed `docker save` size.
	Compressed bool
	// Log receives progress lines and build output (default io.Discard).
	Log io.Writer
	// Verbose also copies `docker build` output to Log.
	Verbose bool
	// KeepOld keeps the older content tags of each image built; by default
	// they are removed (unless a container still uses them), so images do
	// not pile up.
	KeepOld bool
}

// Result is one image's outcome.
type Result struct {
	// Name is the image name (images/<Name>).
	Name string
	// Tag is the content hash tag; Ref is kubelab/<Name>:<Tag>.
	Tag, Ref string
	// Built is false when an image with this tag already existed.
	Built bool
	// Duration is the time spent staging and building.
	Duration time.Duration
	// Size is the uncompressed image size, Compressed the gzip-compressed
	// `docker save` size (0 unless Options.Compressed).
	Size, Compressed int64
	// Tarball is the `docker save` file when Options.SaveDir is set.
	Tarball string
}

func (o *Options) defaults() {
	if o.Output == "" {
		o.Output = filepath.Join(o.Root, "_output")
	}
	if o.Go == "" {
		o.Go = "go"
	}
	if o.Docker == nil {
		o.Docker = DockerCLI{}
	}
	if o.KubernetesVersion == "" {
		o.KubernetesVersion = "v1.37.2-kubelab"
	}
	if o.Log == nil {
		o.Log = io.Discard
	}
}

// Build builds the selected images in order, skipping each whose content tag
// already exists, and returns one Result per image.
func Build(ctx context.Context, opts Options, specs []Spec) ([]Result, error) {
	opts.defaults()
	unlock, err := lockOutput(opts)
	if err != nil {
		return nil, err
	}
	defer unlock()
	start := time.Now()
	toolsDirs, err := compileBinaries(ctx, opts, specs)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(opts.Log, " ✓ Compiled binaries (%s)\n", time.Since(start).Round(100*time.Millisecond))
	tags := map[string]string{}
	var results []Result
	for _, s := range specs {
		t0 := time.Now()
		dir := filepath.Join(opts.Output, "images", s.Name)
		args := map[string]string{}
		if s.Node {
			nodeArgs, err := prepareNode(ctx, opts, tags)
			if err != nil {
				return results, fmt.Errorf("image %s: %w", s.Name, err)
			}
			args = nodeArgs
		}
		if err := stageContext(opts, toolsDirs, s, dir); err != nil {
			return results, err
		}
		res, err := ensureImage(ctx, opts.Docker, s.Name, dir, args, buildLog(opts))
		if err != nil {
			return results, err
		}
		res.Duration = time.Since(t0)
		tags[s.Name] = res.Tag
		if res.Built && !opts.KeepOld {
			pruneOldTags(ctx, opts.Docker, s.Name, res.Tag)
		}
		verb := "Up to date"
		if res.Built {
			verb = "Built"
		}
		fmt.Fprintf(opts.Log, " ✓ %s %s (%s)\n", verb, res.Ref, res.Duration.Round(100*time.Millisecond))
		if err := measure(ctx, opts, &res); err != nil {
			return results, err
		}
		results = append(results, res)
	}
	return results, nil
}

// lockOutput takes an exclusive lock on Output, so that concurrent builds
// (make images while kubelab create cluster builds what is missing) do not
// stage into the same directories; the second waits for the first.
func lockOutput(opts Options) (func(), error) {
	if err := os.MkdirAll(opts.Output, 0o755); err != nil {
		return nil, fmt.Errorf("lock build output: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(opts.Output, ".images.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock build output: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		fmt.Fprintf(opts.Log, " • Waiting for another image build in %s ...\n", opts.Output)
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock build output: %w", err)
		}
	}
	return func() { f.Close() }, nil
}

func buildLog(opts Options) io.Writer {
	if opts.Verbose {
		return opts.Log
	}
	return nil
}

// ensureImage hashes the staged context dir with args and builds
// kubelab/<name>:<hash> unless it exists; either way :dev ends up pointing
// at it.
func ensureImage(ctx context.Context, d Docker, name, dir string, args map[string]string, log io.Writer) (Result, error) {
	tag, err := ContextHash(dir, args)
	if err != nil {
		return Result{}, err
	}
	res := Result{Name: name, Tag: tag, Ref: Ref(name, tag)}
	id, err := d.ImageID(ctx, res.Ref)
	if err != nil {
		return res, err
	}
	if id == "" {
		if err := d.Build(ctx, dir, []string{res.Ref, Ref(name, DevTag)}, args, log); err != nil {
			return res, fmt.Errorf("image %s: %w", name, err)
		}
		res.Built = true
		return res, nil
	}
	if err := d.Tag(ctx, res.Ref, Ref(name, DevTag)); err != nil {
		return res, fmt.Errorf("image %s: %w", name, err)
	}
	return res, nil
}

// pruneOldTags removes kubelab/<name>'s tags other than keep and DevTag,
// best effort: an image a container still uses keeps its tag.
func pruneOldTags(ctx context.Context, d Docker, name, keep string) {
	tags, err := d.Tags(ctx, Repository+"/"+name)
	if err != nil {
		return
	}
	for _, t := range tags {
		if t != keep && t != DevTag && t != "<none>" {
			_ = d.Untag(ctx, Ref(name, t))
		}
	}
}

// stageContext fills dir with images/<name>/ (Dockerfile and any files),
// the spec's binaries, and rootfs/tmp (mode 1777) for scratch images. Files are hard links
// where possible, so staging costs no copying.
func stageContext(opts Options, toolsDirs map[string]string, s Spec, dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("stage %s: %w", s.Name, err)
	}
	src := filepath.Join(opts.Root, "images", s.Name)
	if _, err := os.Stat(filepath.Join(src, "Dockerfile")); err != nil {
		return fmt.Errorf("stage %s: %w", s.Name, err)
	}
	if err := copyTree(src, dir); err != nil {
		return fmt.Errorf("stage %s: %w", s.Name, err)
	}
	for _, b := range s.Binaries {
		from := filepath.Join(opts.Output, "bin", b.name())
		if b.Module != "" {
			from = filepath.Join(toolsDirs[b.Module], b.name())
		}
		to := filepath.Join(dir, b.dir(), b.name())
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return fmt.Errorf("stage %s: %w", s.Name, err)
		}
		if err := linkOrCopy(from, to); err != nil {
			return fmt.Errorf("stage %s: %w", s.Name, err)
		}
	}
	if s.ScratchTmp {
		tmp := filepath.Join(dir, "rootfs", "tmp")
		if err := os.MkdirAll(tmp, 0o755); err != nil {
			return fmt.Errorf("stage %s: %w", s.Name, err)
		}
		if err := os.Chmod(tmp, 0o777|os.ModeSticky); err != nil {
			return fmt.Errorf("stage %s: %w", s.Name, err)
		}
	}
	return nil
}

// copyTree copies the regular files and directories under src to dst,
// keeping permission bits.
func copyTree(src, dst string) error {
	return filepath.Walk(src, func(path string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, rel)
		switch {
		case info.IsDir():
			return os.MkdirAll(to, info.Mode().Perm())
		case info.Mode().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if err := os.WriteFile(to, b, info.Mode().Perm()); err != nil {
				return err
			}
			return os.Chmod(to, info.Mode().Perm())
		default:
			return fmt.Errorf("%s: only regular files and directories are supported in images/", path)
		}
	})
}

// linkOrCopy hard-links from to to, copying when a link is impossible.
func linkOrCopy(from, to string) error {
	if err := os.Link(from, to); err == nil {
		return nil
	}
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	info, err := os.Stat(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, info.Mode().Perm())
}

// Names returns the names of specs, for messages.
func Names(specs []Spec) string { return strings.Join(specNames(specs), ", ") }
