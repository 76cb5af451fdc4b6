package cluster

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sync/errgroup"
	kinderrors "sigs.k8s.io/kind/pkg/errors"

	"github.com/kubelab/kubelab/components/kubelab/cluster/docker"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/nodes"
)

// nodeCommands are collected from every node into <dir>/<node>/<file>,
// besides its /var/log (where the supervisor keeps each program's log).
var nodeCommands = []struct {
	file string
	argv []string
}{
	{"kubernetes-version.txt", []string{"cat", "/kind/version"}},
	{"supervisor-status.txt", []string{"node-supervisor", "ctl", "status"}},
	{"images.log", []string{"crictl", "images"}},
	{"containers.txt", []string{"crictl", "ps", "-a"}},
	{"pods.txt", []string{"crictl", "pods"}},
}

// ExportLogs writes cluster name's logs under dir (a new temporary
// directory when dir is "") and returns the directory. kind's provider
// collects first (docker info, each node's inspect.json and serial.log);
// then kubelab collects each node's /var/log and runtime state through a
// plain `docker exec`, which also works where kind's `docker exec
// --privileged` is refused. Commands that fail leave their error in the
// file they would have filled, as kind's collector does.
func (p *Provider) ExportLogs(ctx context.Context, name, dir string) (string, error) {
	if _, err := docker.GetInfo(ctx); err != nil {
		return "", err
	}
	ns, err := nodes.List(ctx, p.kind, name)
	if err != nil {
		return "", err
	}
	if len(ns) == 0 {
		return "", fmt.Errorf("no nodes found for cluster %q", name)
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "kubelab-logs-"); err != nil {
			return "", err
		}
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", err
	}
	if kerr := p.kind.CollectLogs(name, dir); kerr != nil {
		for _, e := range unexpected(kerr) {
			p.log.Warnf("kind's log collector: %v", nodes.RunError(e))
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, n := range ns {
		g.Go(func() error {
			dropFailedJournal(filepath.Join(dir, n.Name, "journal.log"))
			return collectNode(gctx, n.Name, filepath.Join(dir, n.Name))
		})
	}
	if err := g.Wait(); err != nil {
		return dir, err
	}
	return dir, nil
}

// unexpected filters kind's collection errors down to those kubelab does
// not make up for: kubelab nodes have no journald, and restricted daemons
// refuse `docker exec --privileged`.
func unexpected(err error) []error {
	errs := kinderrors.Errors(err)
	if errs == nil {
		errs = []error{err}
	}
	var out []error
	for _, e := range errs {
		msg := nodes.RunError(e).Error()
		if strings.Contains(msg, "journalctl") || strings.Contains(msg, "unable to apply caps") ||
			strings.Contains(msg, "--privileged") {
			continue
		}
		out = append(out, e)
	}
	return out
}

// dropFailedJournal removes the journal.log kind's collector leaves with
// only an error in it: kubelab nodes run no journald (their programs' logs
// are in /var/log), and restricted daemons refuse kind's exec.
func dropFailedJournal(path string) {
	data, err := os.ReadFile(path)
	if err == nil && (strings.Contains(string(data), "unable to apply caps") || strings.Contains(string(data), "executable file not found")) {
		_ = os.Remove(path)
	}
}

// collectNode writes node's serial log, /var/log tree and command outputs
// under dir.
func collectNode(ctx context.Context, node, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	serial, err := docker.Output(ctx, "logs", node)
	if err != nil {
		serial += err.Error()
	}
	if err := os.WriteFile(filepath.Join(dir, "serial.log"), []byte(serial), 0o644); err != nil {
		return err
	}
	if err := dumpVarLog(ctx, node, dir); err != nil {
		_ = os.WriteFile(filepath.Join(dir, "var-log.error"), []byte(err.Error()+"\n"), 0o644)
	}
	for _, c := range nodeCommands {
		out, err := nodes.Exec(ctx, node, c.argv...)
		if err != nil {
			out += err.Error() + "\n"
		}
		if err := os.WriteFile(filepath.Join(dir, c.file), []byte(out), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// dumpVarLog copies node's /var/log into dir with tar, as kind does.
func dumpVarLog(ctx context.Context, node, dir string) error {
	cmd := exec.CommandContext(ctx, "docker", "exec", node, "tar", "--hard-dereference", "-C", "/var/log", "-chf", "-", ".")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	terr := untar(out, dir)
	werr := cmd.Wait()
	if werr != nil {
		return fmt.Errorf("tar /var/log on %s: %v: %s", node, werr, strings.TrimSpace(stderr.String()))
	}
	return terr
}

// untar extracts regular files and directories of r under dir, refusing
// paths that leave it.
func untar(r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}
