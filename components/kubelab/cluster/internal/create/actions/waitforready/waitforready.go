// Package waitforready is the create step that waits until every node is
// Ready with a Ready kube-proxy pod, and gives each node the labels kubeadm and the config ask for as
// soon as it registers.
package waitforready

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"

	"github.com/kubelab/kubelab/components/kubelab/cluster/config"
	"github.com/kubelab/kubelab/components/kubelab/cluster/internal/create/actions"
	"github.com/kubelab/kubelab/components/kubelab/cluster/nodeconfig"
)

// pollInterval is how often the nodes are listed.
const pollInterval = time.Second

type action struct{}

// NewAction returns the step.
func NewAction() actions.Action { return action{} }

// Execute waits up to ctx.Wait; with no wait it returns at once, as kind's
// --wait 0 does.
func (action) Execute(ctx *actions.Context) error {
	if ctx.Wait <= 0 {
		return nil
	}
	ctx.Status.Start(fmt.Sprintf("Waiting ≤ %s for nodes = Ready ⏳", ctx.Wait))
	start := time.Now()
	err := execute(ctx)
	ctx.Status.End(err == nil)
	if err == nil {
		total := ""
		if !ctx.Start.IsZero() {
			total = fmt.Sprintf(" (all nodes Ready %s after create started)", time.Since(ctx.Start).Round(100*time.Millisecond))
		}
		ctx.Status.Printf(" • Ready after %s 💚%s", time.Since(start).Round(time.Second), total)
	}
	return err
}

func execute(ctx *actions.Context) error {
	client, err := ctx.Client()
	if err != nil {
		return err
	}
	want := Labels(ctx.Config)
	wctx, cancel := context.WithTimeout(ctx.Ctx, ctx.Wait)
	defer cancel()
	labeled := map[string]bool{}
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	var notReady []string
	var listErr error
	for {
		list, err := client.CoreV1().Nodes().List(wctx, metav1.ListOptions{})
		if err != nil && wctx.Err() == nil {
			listErr = err
		}
		if err == nil {
			listErr = nil
			notReady = notReady[:0]
			seen := map[string]*corev1.Node{}
			for i := range list.Items {
				seen[list.Items[i].Name] = &list.Items[i]
			}
			for _, name := range slices.Sorted(maps.Keys(want)) {
				n, ok := seen[name]
				if !ok {
					notReady = append(notReady, name+" (not registered)")
					continue
				}
				if !labeled[name] {
					if err := label(wctx, client, n, want[name]); err == nil {
						labeled[name] = true
					}
				}
				if reason, ready := readiness(n); !ready {
					notReady = append(notReady, fmt.Sprintf("%s (%s)", name, reason))
				}
			}
			if len(notReady) == 0 {
				// Services and pod routes work once kube-proxy runs
				// on every node.
				notReady = append(notReady, proxiesNotReady(wctx, client, slices.Sorted(maps.Keys(want)))...)
			}
			if len(notReady) == 0 && len(labeled) == len(want) {
				return nil
			}
		}
		select {
		case <-wctx.Done():
			if ctx.Ctx.Err() != nil {
				return ctx.Ctx.Err()
			}
			// The deadline can cut the last list short: report what the
			// last list that answered saw.
			if notReady == nil {
				return fmt.Errorf("nodes not Ready within %s: list nodes: %v", ctx.Wait, listErr)
			}
			return fmt.Errorf("nodes not Ready within %s: %s", ctx.Wait, strings.Join(notReady, ", "))
		case <-tick.C:
		}
	}
}

// Labels returns the labels each node of c gets: the config's, and on the
// control plane kubeadm's role label and load-balancer exclusion.
func Labels(c *v1alpha4.Cluster) map[string]map[string]string {
	names := config.NodeNames(c)
	out := map[string]map[string]string{}
	for i, n := range c.Nodes {
		l := maps.Clone(n.Labels)
		if l == nil {
			l = map[string]string{}
		}
		if n.Role == v1alpha4.ControlPlaneRole {
			l[nodeconfig.ControlPlaneTaint] = ""
			l["node.kubernetes.io/exclude-from-external-load-balancers"] = ""
		}
		out[names[i]] = l
	}
	return out
}

// label merges labels into node n (a no-op when it has them all).
func label(ctx context.Context, client kubernetes.Interface, n *corev1.Node, labels map[string]string) error {
	missing := map[string]string{}
	for k, v := range labels {
		if cur, ok := n.Labels[k]; !ok || cur != v {
			missing[k] = v
		}
	}
	if len(missing) == 0 {
		return nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": missing}})
	if err != nil {
		return err
	}
	_, err = client.CoreV1().Nodes().Patch(ctx, n.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{})
	return err
}

// readiness returns whether n is Ready and, if not, why.
func readiness(n *corev1.Node) (string, bool) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				return "", true
			}
			return strings.TrimSpace(c.Reason + " " + c.Message), false
		}
	}
	return "no Ready condition yet", false
}

// proxiesNotReady lists the nodes whose kube-proxy pod is missing or not
// Ready.
func proxiesNotReady(ctx context.Context, client kubernetes.Interface, nodes []string) []string {
	pods, err := client.CoreV1().Pods(metav1.NamespaceSystem).List(ctx, metav1.ListOptions{LabelSelector: "k8s-app=" + nodeconfig.Proxy})
	if err != nil {
		return []string{"kube-proxy pods (" + err.Error() + ")"}
	}
	ready := map[string]bool{}
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready[p.Spec.NodeName] = true
			}
		}
	}
	var out []string
	for _, n := range nodes {
		if !ready[n] {
			out = append(out, "kube-proxy on "+n+" (not Ready)")
		}
	}
	return out
}
