// Package installproxy is the create step that installs kube-proxy as a
// DaemonSet in kube-system (kind's "Installing CNI" step plays this part
// for kindnetd): it routes Services and keeps the routes between the
// nodes' pod networks.
package installproxy

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions"
	"github.com/kubelab/kubelab/components/kubelab/cluster/nodeconfig"
)

type action struct{}

// NewAction returns the step.
func NewAction() actions.Action { return action{} }

// Execute creates (or, on an API server that has it already, replaces)
// the kube-proxy DaemonSet. The API server has just become ready, so a
// create that fails for a moment is retried for a while.
func (action) Execute(ctx *actions.Context) error {
	return ctx.Step("Installing kube-proxy 🔀", execute)
}

func execute(ctx *actions.Context) error {
	client, err := ctx.Client()
	if err != nil {
		return err
	}
	var last error
	err = wait.PollUntilContextTimeout(ctx.Ctx, 250*time.Millisecond, 30*time.Second, true, func(c context.Context) (bool, error) {
		last = Apply(c, client, nodeconfig.ProxyDaemonSet(ctx.Cluster))
		return last == nil, nil
	})
	if err != nil && last != nil {
		return fmt.Errorf("install kube-proxy: %w", last)
	}
	return err
}

// Apply creates ds, or replaces the spec of the one that exists.
func Apply(ctx context.Context, client kubernetes.Interface, ds *appsv1.DaemonSet) error {
	dss := client.AppsV1().DaemonSets(ds.Namespace)
	_, err := dss.Create(ctx, ds, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	cur, err := dss.Get(ctx, ds.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	cur.Spec = ds.Spec
	_, err = dss.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}
