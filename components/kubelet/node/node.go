// Package node is the kubelet's node agent: it registers the Node
// (capacity, allocatable, addresses, nodeInfo, labels, taints), learns the
// podCIDR node IPAM assigns and writes the CNI config for it, renews the
// node Lease, and posts NodeStatus with Ready only while the container
// runtime and its network are ready.
package node

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	internalapi "k8s.io/cri-api/pkg/apis"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"github.com/kubelab/kubelab/components/kubelet/cni"
	"github.com/kubelab/kubelab/components/kubelet/machine"
	"github.com/kubelab/kubelab/components/kubelet/nodestatus"
)

// Options configure the node agent.
type Options struct {
	Client  kubernetes.Interface
	Runtime internalapi.RuntimeService
	// Name is the node's name; IP its InternalIP.
	Name string
	IP   net.IP
	// Machine is what the node has; Capacity and Allocatable derive
	// from it.
	Machine     machine.Info
	Capacity    corev1.ResourceList
	Allocatable corev1.ResourceList
	// Labels are added to the node's (--node-labels); Taints are
	// registered with it (--register-with-taints).
	Labels map[string]string
	Taints []corev1.Taint
	// KubeletVersion is reported in nodeInfo.
	KubeletVersion string
	// Port is the kubelet API's port (10250).
	Port int32
	// LeaseDurationSeconds is the Lease's duration (40); RenewInterval
	// how often it is renewed (10s).
	LeaseDurationSeconds int32
	RenewInterval        time.Duration
	// CheckInterval is how often readiness is checked (1s); a change is
	// posted at once, else the status every ReportInterval (1m).
	CheckInterval, ReportInterval time.Duration
	// CNIConfDir receives the CNI config once the podCIDR is known
	// ("": none is written).
	CNIConfDir string
	CNI        cni.Options
	// OnReadyChange is called when the node's readiness changes.
	OnReadyChange func(ready bool)
}

// Agent keeps the node registered and heartbeating.
type Agent struct {
	o   Options
	log *slog.Logger

	registered chan struct{}
	regOnce    sync.Once

	mu           sync.Mutex
	uid          types.UID
	leaseRV      string
	podCIDRs     []string
	readiness    nodestatus.Readiness
	readySince   time.Time
	checked      bool
	runtimeVer   string
	networkReady bool
	networkMsg   string
}

// New returns an agent; nothing happens until Run.
func New(o Options) *Agent {
	if o.Port == 0 {
		o.Port = 10250
	}
	if o.LeaseDurationSeconds <= 0 {
		o.LeaseDurationSeconds = 40
	}
	if o.RenewInterval <= 0 {
		o.RenewInterval = time.Duration(o.LeaseDurationSeconds) * time.Second / 4
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = time.Second
	}
	if o.ReportInterval <= 0 {
		o.ReportInterval = time.Minute
	}
	return &Agent{o: o, log: slog.Default().With("component", "kubelet-node", "node", o.Name),
		registered: make(chan struct{})}
}

// Registered is closed once the node is registered.
func (a *Agent) Registered() <-chan struct{} { return a.registered }

// NetworkReady reports whether pods can get networking, and why not.
func (a *Agent) NetworkReady() (bool, string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.networkReady, a.networkMsg
}

// Ready reports the node's readiness.
func (a *Agent) Ready() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.readiness.Ready
}

// UID returns the Node's uid ("" until registered).
func (a *Agent) UID() types.UID {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.uid
}

// PodCIDRs returns the node's podCIDRs (none until node IPAM set them).
func (a *Agent) PodCIDRs() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.podCIDRs)
}

// Run registers the node and heartbeats until ctx ends.
func (a *Agent) Run(ctx context.Context) error {
	a.check(ctx)
	for {
		err := a.register(ctx)
		if err == nil {
			break
		}
		a.log.Warn("node registration failed; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	a.regOnce.Do(func() { close(a.registered) })
	a.log.Info("node registered", "ip", a.o.IP.String())
	var wg sync.WaitGroup
	wg.Go(func() { a.watchNode(ctx) })
	wg.Go(func() { a.leaseLoop(ctx) })
	wg.Go(func() { a.statusLoop(ctx) })
	wg.Wait()
	return nil
}

// nodeObject is the Node the kubelet registers.
func (a *Agent) nodeObject() *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname: a.o.Name, corev1.LabelOSStable: "linux", corev1.LabelArchStable: runtime.GOARCH,
	}
	for k, v := range a.o.Labels {
		labels[k] = v
	}
	a.mu.Lock()
	conditions := nodestatus.Conditions(a.readiness, metav1.Now(), metav1.NewTime(a.readySince))
	runtimeVer := a.runtimeVer
	a.mu.Unlock()
	m := a.o.Machine
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: a.o.Name, Labels: labels,
			Annotations: map[string]string{"node.alpha.kubernetes.io/ttl": "0"}},
		Spec: corev1.NodeSpec{Taints: a.o.Taints},
		Status: corev1.NodeStatus{
			Capacity: a.o.Capacity, Allocatable: a.o.Allocatable, Phase: corev1.NodeRunning,
			Conditions: conditions,
			Addresses: []corev1.NodeAddress{
				{Type: corev1.NodeInternalIP, Address: a.o.IP.String()},
				{Type: corev1.NodeHostName, Address: a.o.Name},
			},
			DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: a.o.Port}},
			NodeInfo: corev1.NodeSystemInfo{
				MachineID: m.MachineID, SystemUUID: m.SystemUUID, BootID: m.BootID,
				KernelVersion: m.KernelVersion, OSImage: m.OSImage,
				ContainerRuntimeVersion: runtimeVer,
				KubeletVersion:          a.o.KubeletVersion, KubeProxyVersion: a.o.KubeletVersion,
				OperatingSystem: "linux", Architecture: runtime.GOARCH,
			},
		},
	}
}

// register creates (or reclaims) the node.
func (a *Agent) register(ctx context.Context) error {
	got, err := nodestatus.Register(ctx, a.o.Client, a.nodeObject())
	if err != nil {
		return err
	}
	a.mu.Lock()
	a.uid = got.UID
	a.mu.Unlock()
	a.setPodCIDRs(got)
	if err := a.renewLease(ctx); err != nil {
		a.log.Info("first lease renewal failed", "err", err)
	}
	return nil
}

// watchNode follows the node object for its podCIDRs.
func (a *Agent) watchNode(ctx context.Context) {
	factory := informers.NewSharedInformerFactoryWithOptions(a.o.Client, 0,
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) {
			lo.FieldSelector = fields.OneTermEqualSelector("metadata.name", a.o.Name).String()
		}))
	inf := factory.Core().V1().Nodes().Informer()
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.onNode(obj) },
		UpdateFunc: func(_, obj any) { a.onNode(obj) },
	})
	factory.Start(ctx.Done())
	<-ctx.Done()
	factory.Shutdown()
}

func (a *Agent) onNode(obj any) {
	if n, ok := obj.(*corev1.Node); ok && n.Name == a.o.Name {
		a.setPodCIDRs(n)
	}
}

// setPodCIDRs records the node's podCIDRs and writes the CNI config.
func (a *Agent) setPodCIDRs(n *corev1.Node) {
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	if len(cidrs) == 0 {
		return
	}
	a.mu.Lock()
	changed := !slices.Equal(a.podCIDRs, cidrs)
	a.podCIDRs = slices.Clone(cidrs)
	a.mu.Unlock()
	if !changed || a.o.CNIConfDir == "" {
		return
	}
	if wrote, err := cni.Write(a.o.CNIConfDir, cidrs, a.o.CNI); err != nil {
		a.log.Error("write CNI config failed", "err", err)
	} else if wrote {
		a.log.Info("wrote CNI config", "podCIDRs", strings.Join(cidrs, ","), "dir", a.o.CNIConfDir)
	}
}

// leaseLoop renews the node Lease every RenewInterval (a second after a
// failure).
func (a *Agent) leaseLoop(ctx context.Context) {
	for {
		wait := a.o.RenewInterval
		if err := a.renewLease(ctx); err != nil && ctx.Err() == nil {
			a.log.Info("lease renewal failed", "err", err)
			wait = time.Second
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

func (a *Agent) renewLease(ctx context.Context) error {
	a.mu.Lock()
	rv, uid := a.leaseRV, a.uid
	a.mu.Unlock()
	got, err := nodestatus.RenewLease(ctx, a.o.Client, nodestatus.Lease(a.o.Name, uid, a.o.LeaseDurationSeconds, rv, time.Now()))
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.leaseRV = ""
		return err
	}
	a.leaseRV = got.ResourceVersion
	return nil
}

// statusLoop checks readiness every CheckInterval and posts the status
// when it changed, or every ReportInterval.
func (a *Agent) statusLoop(ctx context.Context) {
	lastPost := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(a.o.CheckInterval):
		}
		changed := a.check(ctx)
		if !changed && time.Since(lastPost) < a.o.ReportInterval {
			continue
		}
		a.mu.Lock()
		conds := nodestatus.Conditions(a.readiness, metav1.Now(), metav1.NewTime(a.readySince))
		a.mu.Unlock()
		got, err := nodestatus.PostConditions(ctx, a.o.Client, a.o.Name, conds)
		if err != nil {
			if ctx.Err() == nil {
				a.log.Info("node status update failed", "err", err, "notFound", apierrors.IsNotFound(err))
			}
			continue
		}
		lastPost = time.Now()
		a.setPodCIDRs(got)
	}
}

// check reads the runtime's status and reports whether the node's
// readiness changed.
func (a *Agent) check(ctx context.Context) bool {
	r, netOK, netMsg, ver := a.probeRuntime(ctx)
	a.mu.Lock()
	changed := !a.checked || r != a.readiness
	if changed {
		a.readySince = time.Now()
	}
	a.checked = true
	a.readiness, a.networkReady, a.networkMsg = r, netOK, netMsg
	if ver != "" {
		a.runtimeVer = ver
	}
	a.mu.Unlock()
	if changed {
		a.log.Info("node readiness", "ready", r.Ready, "message", r.Message)
		if a.o.OnReadyChange != nil {
			a.o.OnReadyChange(r.Ready)
		}
	}
	return changed
}

// probeRuntime asks the runtime: the node is ready when RuntimeReady and
// NetworkReady are true.
func (a *Agent) probeRuntime(ctx context.Context) (nodestatus.Readiness, bool, string, string) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	ver := ""
	if v, err := a.o.Runtime.Version(ctx, "v1"); err == nil {
		ver = v.RuntimeName + "://" + v.RuntimeVersion
	}
	resp, err := a.o.Runtime.Status(ctx, false)
	if err != nil {
		msg := fmt.Sprintf("container runtime is down: %v", err)
		return nodestatus.Readiness{Message: msg}, false, msg, ver
	}
	var msgs []string
	netOK, netMsg := false, "container runtime reports no NetworkReady condition"
	runtimeOK := false
	for _, c := range resp.GetStatus().GetConditions() {
		switch c.Type {
		case runtimeapi.RuntimeReady:
			runtimeOK = c.Status
			if !c.Status {
				msgs = append(msgs, fmt.Sprintf("container runtime not ready: RuntimeReady=false reason:%s message:%s", c.Reason, c.Message))
			}
		case runtimeapi.NetworkReady:
			netOK = c.Status
			if !c.Status {
				netMsg = fmt.Sprintf("container runtime network not ready: NetworkReady=false reason:%s message:%s", c.Reason, c.Message)
				msgs = append(msgs, netMsg)
			} else {
				netMsg = ""
			}
		}
	}
	if !runtimeOK && len(msgs) == 0 {
		msgs = append(msgs, "container runtime reports no RuntimeReady condition")
	}
	return nodestatus.Readiness{Ready: runtimeOK && netOK, Message: strings.Join(msgs, "; ")}, netOK, netMsg, ver
}
