// Package nodes reaches into a lab cluster's node containers: lists them
// through kind's provider, writes files the way kind does (`mkdir -p`, then
// `cp /dev/stdin <path>` through `docker exec`), reads files and runs
// commands, and reads the admin kubeconfig back from the control plane.
package nodes

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"path"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	kindcluster "sigs.k8s.io/kind/pkg/cluster"
	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/kubelab/kubelab/components/internal/kubeconfig"
	"github.com/kubelab/kubelab/components/kubelab/cluster/docker"
	"github.com/kubelab/kubelab/components/kubelab/cluster/nodeconfig"
)

// List returns the nodes of cluster name, control plane first, with their
// roles and addresses on the kind network.
func List(ctx context.Context, p *kindcluster.Provider, name string) ([]nodeconfig.Node, error) {
	kn, err := p.ListNodes(name)
	if err != nil {
		return nil, fmt.Errorf("list nodes of cluster %q: %w", name, err)
	}
	var out []nodeconfig.Node
	for _, n := range kn {
		role, err := n.Role()
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n, err)
		}
		ip, err := docker.ContainerIP(ctx, n.String(), docker.NetworkName)
		if err != nil {
			return nil, err
		}
		out = append(out, nodeconfig.Node{Name: n.String(), IP: ip, Role: v1alpha4.NodeRole(role)})
	}
	slices.SortFunc(out, func(a, b nodeconfig.Node) int {
		if a.Role != b.Role {
			if a.Role == v1alpha4.ControlPlaneRole {
				return -1
			}
			if b.Role == v1alpha4.ControlPlaneRole {
				return 1
			}
		}
		return strings.Compare(a.Name, b.Name)
	})
	return out, nil
}

// WriteFiles writes files (path -> content) into node, as kind writes
// files: one `mkdir -p` of every parent directory, then `cp /dev/stdin
// <path>` per file through `docker exec`. Private keys (*.key) are then
// made readable by root only.
func WriteFiles(ctx context.Context, node string, files map[string][]byte) error {
	if len(files) == 0 {
		return nil
	}
	var dirs, keys []string
	for p := range files {
		if d := path.Dir(p); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
		if strings.HasSuffix(p, ".key") {
			keys = append(keys, p)
		}
	}
	slices.Sort(dirs)
	slices.Sort(keys)
	if err := docker.Run(ctx, nil, append([]string{"exec", node, "mkdir", "-p"}, dirs...)...); err != nil {
		return fmt.Errorf("create directories on %s: %w", node, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(4)
	for p, data := range files {
		g.Go(func() error {
			if err := docker.Run(gctx, bytes.NewReader(data), "exec", "-i", node, "cp", "/dev/stdin", p); err != nil {
				return fmt.Errorf("write %s on %s: %w", p, node, err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	if len(keys) > 0 {
		if err := docker.Run(ctx, nil, append([]string{"exec", node, "chmod", "0600"}, keys...)...); err != nil {
			return fmt.Errorf("protect keys on %s: %w", node, err)
		}
	}
	return nil
}

// ReadFile returns the file at path on node.
func ReadFile(ctx context.Context, node, path string) ([]byte, error) {
	out, err := docker.Output(ctx, "exec", node, "cat", path)
	if err != nil {
		return nil, fmt.Errorf("read %s on %s: %w", path, node, err)
	}
	return []byte(out), nil
}

// Exec runs a command on node and returns its standard output.
func Exec(ctx context.Context, node string, command ...string) (string, error) {
	return docker.Output(ctx, append([]string{"exec", node}, command...)...)
}

// RunError returns err with the output of the failed kind command it
// wraps, if any: kind's errors name the command but not what it printed.
func RunError(err error) error {
	var re *kindexec.RunError
	if errors.As(err, &re) && len(bytes.TrimSpace(re.Output)) > 0 {
		return fmt.Errorf("%w: %s", err, bytes.TrimSpace(re.Output))
	}
	return err
}

// ContextName returns the kubeconfig context of cluster name: kubelab-<name>.
func ContextName(name string) string { return "kubelab-" + name }

// AdminKubeconfig returns the host's kubeconfig entry for cluster name,
// as kind's provider derives it: the admin credentials of the control
// plane's /etc/kubernetes/admin.conf, with the server replaced by the API
// server's published host address; named kubelab-<name>. (kind's own
// KubeConfig reads the file through `docker exec --privileged`, which a
// restricted daemon refuses.)
func AdminKubeconfig(ctx context.Context, p *kindcluster.Provider, name string) (kubeconfig.Cluster, error) {
	all, err := List(ctx, p, name)
	if err != nil {
		return kubeconfig.Cluster{}, err
	}
	if len(all) == 0 || all[0].Role != v1alpha4.ControlPlaneRole {
		return kubeconfig.Cluster{}, fmt.Errorf("could not locate any control plane nodes for cluster named '%s'. "+
			"Use the --name option to select a different cluster", name)
	}
	cp := all[0].Name
	raw, err := ReadFile(ctx, cp, "/etc/kubernetes/admin.conf")
	if err != nil {
		return kubeconfig.Cluster{}, err
	}
	cfg, err := clientcmd.Load(raw)
	if err != nil {
		return kubeconfig.Cluster{}, fmt.Errorf("parse the kubeconfig of cluster %q: %w", name, err)
	}
	kctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return kubeconfig.Cluster{}, fmt.Errorf("the kubeconfig of cluster %q has no current context", name)
	}
	c, u := cfg.Clusters[kctx.Cluster], cfg.AuthInfos[kctx.AuthInfo]
	if c == nil || u == nil {
		return kubeconfig.Cluster{}, fmt.Errorf("the kubeconfig of cluster %q is incomplete", name)
	}
	host, port, err := docker.PublishedPort(ctx, cp, docker.APIServerPort)
	if err != nil {
		return kubeconfig.Cluster{}, err
	}
	return kubeconfig.Cluster{
		Context:        ContextName(name),
		Server:         "https://" + net.JoinHostPort(host, port),
		CAData:         c.CertificateAuthorityData,
		ClientCertData: u.ClientCertificateData,
		ClientKeyData:  u.ClientKeyData,
		Token:          u.Token,
	}, nil
}
