package cluster

import (
	"context"
	"fmt"
	"strings"

	"github.com/kubelab/kubelab/components/kubelab/cluster/docker"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions"
	"github.com/kubelab/kubelab/components/kubelab/cluster/nodeconfig"
	"github.com/kubelab/kubelab/components/kubelab/images"
)

// Image names (images/<name>) a cluster runs.
const (
	NodeImageName = "node"
	etcdImage     = "etcd"
)

// requiredImages run the control plane and kube-proxy; optionalImages are loaded into
// every node when they have been built, under their content tag and
// kubelab/<name>:dev.
var (
	requiredImages = []string{etcdImage, nodeconfig.APIServer, nodeconfig.Scheduler, nodeconfig.ControllerManager, nodeconfig.Proxy}
	optionalImages = []string{"testapp"}
)

// ResolveImage returns the reference of image name's newest build:
// kubelab/<name>:<content tag>, the tag `kubelab build images` gave the
// image that kubelab/<name>:dev points at, so that a cluster keeps running
// what it was created with. It returns "" when no such image was built.
func ResolveImage(ctx context.Context, name string) (string, error) {
	dev := images.Ref(name, images.DevTag)
	out, err := docker.Output(ctx, "image", "inspect", "--format", "{{json .RepoTags}}", dev)
	if err != nil {
		if strings.Contains(err.Error(), "No such image") {
			return "", nil
		}
		return "", err
	}
	prefix := images.Repository + "/" + name + ":"
	for _, t := range strings.Split(strings.Trim(strings.TrimSpace(out), "[]"), ",") {
		t = strings.Trim(t, `"`)
		if strings.HasPrefix(t, prefix) && t != dev {
			return t, nil
		}
	}
	return dev, nil
}

// resolveImages finds the images of a cluster; nodeImage "" means the newest
// node image. Every missing image is named in one error.
func resolveImages(ctx context.Context, nodeImage string) (actions.Images, error) {
	var imgs actions.Images
	var missing []string
	get := func(name string, required bool) string {
		ref, err := ResolveImage(ctx, name)
		if err == nil && ref == "" && required {
			missing = append(missing, images.Ref(name, images.DevTag))
		}
		if err != nil {
			missing = append(missing, fmt.Sprintf("%s (%v)", images.Ref(name, images.DevTag), err))
		}
		return ref
	}
	imgs.Node = nodeImage
	if nodeImage == "" {
		imgs.Node = get(NodeImageName, true)
	}
	imgs.ControlPlane = nodeconfig.Images{
		Etcd:              get(etcdImage, true),
		APIServer:         get(nodeconfig.APIServer, true),
		Scheduler:         get(nodeconfig.Scheduler, true),
		ControllerManager: get(nodeconfig.ControllerManager, true),
		Proxy:             get(nodeconfig.Proxy, true),
	}
	// kube-proxy runs on every node as a DaemonSet.
	imgs.All = append(imgs.All, imgs.ControlPlane.Proxy)
	for _, name := range optionalImages {
		if ref := get(name, false); ref != "" {
			imgs.All = append(imgs.All, ref)
			// Workloads name the test image by its stable tag
			// (kubectl run --image=kubelab/testapp:dev); the node gets both.
			if dev := images.Ref(name, images.DevTag); ref != dev {
				imgs.All = append(imgs.All, dev)
			}
		}
	}
	if len(missing) > 0 {
		return imgs, fmt.Errorf("kubelab's images are not built (nothing can be pulled here): %s; build them with `make images` (kubelab build images)",
			strings.Join(missing, ", "))
	}
	return imgs, nil
}
