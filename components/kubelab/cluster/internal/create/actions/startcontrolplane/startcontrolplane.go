// Package startcontrolplane is the create step that starts the control
// plane: it writes the control-plane node's kubelet config, upon which the
// node's supervisor starts the kubelet, which runs the static pods; then it
// waits for the API server's /readyz through its published host port.
package startcontrolplane

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/nodes"
	"github.com/kubelab/kubelab/components/kubelab/cluster/nodeconfig"
)

// pollInterval is how often /readyz is asked.
const pollInterval = 500 * time.Millisecond

type action struct{}

// NewAction returns the step.
func NewAction() actions.Action { return action{} }

// Execute starts the control-plane kubelet and waits for the API server.
func (action) Execute(ctx *actions.Context) error {
	return ctx.Step("Starting control-plane 🕹️", execute)
}

func execute(ctx *actions.Context) error {
	cp := ctx.ControlPlane()
	if err := StartKubelet(ctx, cp); err != nil {
		return err
	}
	if err := WaitForAPIServer(ctx, ctx.ControlPlaneTimeout); err != nil {
		if ctx.Ctx.Err() != nil {
			return err // interrupted: nothing to diagnose
		}
		return fmt.Errorf("%w\n%s", err, Diagnose(ctx.Ctx, cp.Name))
	}
	return nil
}

// StartKubelet writes node n's kubelet config, which the node's supervisor
// waits for before starting the kubelet.
func StartKubelet(ctx *actions.Context, n nodeconfig.Node) error {
	data, err := nodeconfig.KubeletConfig(ctx.Cluster, n)
	if err != nil {
		return err
	}
	return nodes.WriteFiles(ctx.Ctx, n.Name, map[string][]byte{nodeconfig.KubeletConfigPath: data})
}

// WaitForAPIServer polls the API server's /readyz until it answers ok or
// timeout passes.
func WaitForAPIServer(ctx *actions.Context, timeout time.Duration) error {
	client, err := ctx.Client()
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx.Ctx, timeout)
	defer cancel()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var last error
	for {
		body, err := client.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(wctx)
		if err == nil && strings.TrimSpace(string(body)) == "ok" {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-wctx.Done():
			if ctx.Ctx.Err() != nil {
				return ctx.Ctx.Err()
			}
			return fmt.Errorf("the API server at %s was not ready within %s (last error: %v)", ctx.Admin.Server, timeout, last)
		case <-tick.C:
		}
	}
}

// Diagnose returns what a user needs to see when node's control plane did
// not come up: the supervisor's program states, the end of the kubelet's
// log and the runtime's containers.
func Diagnose(ctx context.Context, node string) string {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	var b strings.Builder
	for _, c := range []struct {
		title string
		cmd   []string
	}{
		{"node-supervisor ctl status", []string{"node-supervisor", "ctl", "status"}},
		{"/var/log/kubelet.log (last 25 lines)", []string{"tail", "-n", "25", "/var/log/kubelet.log"}},
		{"crictl ps -a", []string{"crictl", "ps", "-a"}},
	} {
		out, err := nodes.Exec(ctx, node, c.cmd...)
		if err != nil {
			out += err.Error()
		}
		fmt.Fprintf(&b, "--- %s on %s:\n%s\n", c.title, node, strings.TrimRight(out, "\n"))
	}
	return b.String()
}
