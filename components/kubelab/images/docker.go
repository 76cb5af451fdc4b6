package images

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// Docker is the part of the Docker engine the builder uses. The CLI
// implements it; tests use a fake.
type Docker interface {
	// ImageID returns the ID of ref, or "" when there is no such image.
	ImageID(ctx context.Context, ref string) (string, error)
	// Build runs `docker build` of dir, tagging the result with every tag.
	Build(ctx context.Context, dir string, tags []string, buildArgs map[string]string, log io.Writer) error
	// Tag points dst at src.
	Tag(ctx context.Context, src, dst string) error
	// Import turns a root filesystem tarball into the image ref.
	Import(ctx context.Context, tarball, ref string) error
	// Size returns the image's uncompressed size in bytes.
	Size(ctx context.Context, ref string) (int64, error)
	// Save writes `docker save` of refs to w.
	Save(ctx context.Context, w io.Writer, refs ...string) error
	// Tags lists the tags of repo (e.g. kubelab/etcd).
	Tags(ctx context.Context, repo string) ([]string, error)
	// Untag removes the tag ref; an image still used by a container stays.
	Untag(ctx context.Context, ref string) error
}

// DockerCLI runs the docker command line.
type DockerCLI struct {
	// Binary is the docker executable (default "docker").
	Binary string
}

var _ Docker = DockerCLI{}

func (d DockerCLI) cmd(ctx context.Context, args ...string) *exec.Cmd {
	bin := d.Binary
	if bin == "" {
		bin = "docker"
	}
	return exec.CommandContext(ctx, bin, args...)
}

func (d DockerCLI) output(ctx context.Context, args ...string) (string, error) {
	var stderr bytes.Buffer
	c := d.cmd(ctx, args...)
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// ImageID implements Docker.
func (d DockerCLI) ImageID(ctx context.Context, ref string) (string, error) {
	var stderr bytes.Buffer
	c := d.cmd(ctx, "image", "inspect", "--format", "{{.Id}}", ref)
	c.Stderr = &stderr
	out, err := c.Output()
	if err != nil {
		if strings.Contains(strings.ToLower(stderr.String()), "no such image") {
			return "", nil
		}
		return "", fmt.Errorf("docker image inspect %s: %w: %s", ref, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// Build implements Docker. It uses the classic builder, which needs no
// BuildKit plugin and no registry.
func (d DockerCLI) Build(ctx context.Context, dir string, tags []string, buildArgs map[string]string, log io.Writer) error {
	args := []string{"build"}
	for _, t := range tags {
		args = append(args, "--tag", t)
	}
	keys := make([]string, 0, len(buildArgs))
	for k := range buildArgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "--build-arg", k+"="+buildArgs[k])
	}
	args = append(args, dir)
	c := d.cmd(ctx, args...)
	c.Env = append(c.Environ(), "DOCKER_BUILDKIT=0")
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if log != nil {
		c.Stdout, c.Stderr = io.MultiWriter(&out, log), io.MultiWriter(&out, log)
	}
	if err := c.Run(); err != nil {
		return fmt.Errorf("docker build %s: %w\n%s", dir, err, tail(out.String(), 20))
	}
	return nil
}

// Tag implements Docker.
func (d DockerCLI) Tag(ctx context.Context, src, dst string) error {
	_, err := d.output(ctx, "tag", src, dst)
	return err
}

// Import implements Docker.
func (d DockerCLI) Import(ctx context.Context, tarball, ref string) error {
	_, err := d.output(ctx, "import", tarball, ref)
	return err
}

// Size implements Docker.
func (d DockerCLI) Size(ctx context.Context, ref string) (int64, error) {
	out, err := d.output(ctx, "image", "inspect", "--format", "{{.Size}}", ref)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(out, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("image size of %s: %w", ref, err)
	}
	return n, nil
}

// Save implements Docker.
func (d DockerCLI) Save(ctx context.Context, w io.Writer, refs ...string) error {
	var stderr bytes.Buffer
	c := d.cmd(ctx, append([]string{"save"}, refs...)...)
	c.Stdout, c.Stderr = w, &stderr
	if err := c.Run(); err != nil {
		return fmt.Errorf("docker save %s: %w: %s", strings.Join(refs, " "), err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// Tags implements Docker.
func (d DockerCLI) Tags(ctx context.Context, repo string) ([]string, error) {
	out, err := d.output(ctx, "images", "--format", "{{.Tag}}", repo)
	if err != nil {
		return nil, err
	}
	return strings.Fields(out), nil
}

// Untag implements Docker.
func (d DockerCLI) Untag(ctx context.Context, ref string) error {
	_, err := d.output(ctx, "image", "rm", ref)
	return err
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
