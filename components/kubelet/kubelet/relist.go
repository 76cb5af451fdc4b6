package kubelet

import (
	"context"
	"sort"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	"github.com/kubelab/kubelab/components/kubelet/podruntime"
)

// relistPeriod is how often the runtime is listed for changes.
const relistPeriod = time.Second

// relist lists every sandbox and container each relistPeriod, as
// upstream's PLEG, and asks for a sync of every pod whose runtime state
// changed, including pods the node no longer has (they are cleaned up).
func (k *Kubelet) relist(ctx context.Context) {
	prev := map[types.UID]string{}
	t := time.NewTicker(relistPeriod)
	defer t.Stop()
	for {
		cur, err := k.fingerprints(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			k.log.Info("relist failed", "err", err)
		} else {
			for uid, fp := range cur {
				if prev[uid] != fp {
					k.workers.Update(uid)
				}
			}
			for uid := range prev {
				if _, ok := cur[uid]; !ok {
					k.workers.Update(uid)
				}
			}
			prev = cur
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// fingerprints summarizes each pod's sandboxes and containers (ids and
// states).
func (k *Kubelet) fingerprints(ctx context.Context) (map[types.UID]string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	sandboxes, err := k.runtime.ListPodSandbox(ctx, nil)
	if err != nil {
		return nil, err
	}
	containers, err := k.runtime.ListContainers(ctx, nil)
	if err != nil {
		return nil, err
	}
	parts := map[types.UID][]string{}
	for _, s := range sandboxes {
		if uid := podruntime.PodUIDOf(s.Labels); uid != "" {
			parts[uid] = append(parts[uid], s.Id+"="+s.State.String())
		}
	}
	for _, c := range containers {
		if uid := podruntime.PodUIDOf(c.Labels); uid != "" {
			parts[uid] = append(parts[uid], c.Id+"="+c.State.String())
		}
	}
	out := make(map[types.UID]string, len(parts))
	for uid, p := range parts {
		sort.Strings(p)
		out[uid] = strings.Join(p, ",")
	}
	return out, nil
}
