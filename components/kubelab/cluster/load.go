package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/kubelab/kubelab/components/kubelab/cluster/docker"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/nodes"
	"github.com/kubelab/kubelab/components/kubelab/cluster/nodeconfig"
)

// LoadImages loads local Docker images into the containerd of cluster
// name's nodes (all, or those named in only), as `kind load docker-image`
// does: an image a node already holds under the same ID is skipped; the
// others are saved once and imported into each node with
// `ctr --namespace=k8s.io images import`.
func (p *Provider) LoadImages(ctx context.Context, name string, images, only []string) error {
	if _, err := docker.GetInfo(ctx); err != nil {
		return err
	}
	ids := map[string]string{}
	for _, img := range images {
		id, err := docker.Output(ctx, "image", "inspect", "--format", "{{.Id}}", img)
		if err != nil {
			return fmt.Errorf("image: %q not present locally", img)
		}
		ids[img] = strings.TrimSpace(id)
	}
	all, err := nodes.List(ctx, p.kind, name)
	if err != nil {
		return err
	}
	if len(all) == 0 {
		return fmt.Errorf("no nodes found for cluster %q", name)
	}
	var selected []string
	for _, n := range all {
		if len(only) == 0 || slices.Contains(only, n.Name) {
			selected = append(selected, n.Name)
		}
	}
	for _, n := range only {
		if !slices.ContainsFunc(all, func(x nodeconfig.Node) bool { return x.Name == n }) {
			return fmt.Errorf("unknown node %q in cluster %q", n, name)
		}
	}
	// Which node lacks which image.
	need := map[string][]string{}
	var wanted []string
	for _, img := range images {
		for _, node := range selected {
			if id, err := nodeutils.ImageID(nodes.NewNode(node), img); err == nil && id == ids[img] {
				continue
			}
			fmt.Fprintf(p.out, "Image: %q with ID %q not yet present on node %q, loading...\n", img, ids[img], node)
			need[node] = append(need[node], img)
			if !slices.Contains(wanted, img) {
				wanted = append(wanted, img)
			}
		}
	}
	if len(wanted) == 0 {
		return nil
	}
	dir, err := os.MkdirTemp("", "kubelab-load-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	archive := filepath.Join(dir, "images.tar")
	if err := docker.Run(ctx, nil, append([]string{"save", "-o", archive}, wanted...)...); err != nil {
		return fmt.Errorf("save images: %w", err)
	}
	g, _ := errgroup.WithContext(ctx)
	for node := range need {
		g.Go(func() error {
			f, err := os.Open(archive)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := nodeutils.LoadImageArchive(nodes.NewNode(node), f); err != nil {
				return fmt.Errorf("load images into node %s: %w", node, nodes.RunError(err))
			}
			return nil
		})
	}
	return g.Wait()
}
