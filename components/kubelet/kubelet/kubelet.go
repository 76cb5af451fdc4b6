// Package kubelet assembles the kubelet on containerd: the node agent
// (registration, Lease, NodeStatus, CNI config), the pod sources (the API's
// pods bound to the node and static pod manifests with their mirrors),
// one worker per pod over the CRI, a relist that notices container state
// changes, and the kubelet's HTTPS API for logs and exec.
package kubelet

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	internalapi "k8s.io/cri-api/pkg/apis"
	remote "k8s.io/cri-client/pkg"

	"github.com/kubelab/kubelab/components/kubelet/cni"
	"github.com/kubelab/kubelab/components/kubelet/envvars"
	"github.com/kubelab/kubelab/components/kubelet/machine"
	"github.com/kubelab/kubelab/components/kubelet/node"
	"github.com/kubelab/kubelab/components/kubelet/podruntime"
	"github.com/kubelab/kubelab/components/kubelet/pods"
	"github.com/kubelab/kubelab/components/kubelet/prober"
	"github.com/kubelab/kubelab/components/kubelet/staticpods"
	"github.com/kubelab/kubelab/components/kubelet/volumes"
)

// Config is what a kubelet needs.
type Config struct {
	// RestConfig reaches the API server.
	RestConfig *rest.Config
	// NodeName is the node's name (the hostname by default).
	NodeName string
	// NodeIP is the node's InternalIP ("": eth0's address).
	NodeIP string
	// NodeLabels and RegisterWithTaints go onto the Node.
	NodeLabels         map[string]string
	RegisterWithTaints []corev1.Taint
	// RuntimeEndpoint is the CRI socket (unix:///run/containerd/containerd.sock).
	RuntimeEndpoint string
	// Runtime and Images replace the CRI connection (tests).
	Runtime internalapi.RuntimeService
	Images  internalapi.ImageManagerService
	// RootDir (/var/lib/kubelet), PodLogsDir (/var/log/pods) and
	// CNIConfDir (/etc/cni/net.d) are the kubelet's directories.
	RootDir, PodLogsDir, CNIConfDir string
	// CNI shapes the pod network config.
	CNI cni.Options
	// CgroupRoot is where pod cgroups go ("": <node cgroup>/kubepods).
	CgroupRoot string
	// ClusterDNS, ClusterDomain and ResolvConf configure pod DNS.
	ClusterDNS    []string
	ClusterDomain string
	ResolvConf    string
	// MaxPods is the node's pod capacity (110).
	MaxPods int64
	// Reserved is held back from allocatable (kube- plus system-reserved).
	Reserved corev1.ResourceList
	// PodManifestPath is the static pod directory ("": none).
	PodManifestPath string
	// KubeletVersion is reported in the Node's nodeInfo.
	KubeletVersion string
	// LeaseDurationSeconds and StatusReportInterval shape the heartbeat.
	LeaseDurationSeconds int32
	StatusReportInterval time.Duration
	// ImagePullTimeout bounds image pulls.
	ImagePullTimeout time.Duration
	// Server configures the kubelet's HTTPS API (nil: none).
	Server *ServerConfig
	// MachineRoot is where /proc and /sys are read ("/"; tests change it).
	MachineRoot string
}

// Kubelet is a running kubelet.
type Kubelet struct {
	cfg     Config
	client  kubernetes.Interface
	events  kubernetes.Interface
	runtime internalapi.RuntimeService
	images  internalapi.ImageManagerService
	log     *slog.Logger

	agent   *node.Agent
	pods    *pods.Manager
	syncer  *pods.Syncer
	workers *pods.Workers
	probes  *prober.Manager
	layout  *podruntime.Config

	ready     chan struct{}
	readyOnce sync.Once
}

// New prepares a kubelet; nothing runs until Run.
func New(cfg Config) (*Kubelet, error) {
	if cfg.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("node name: %w", err)
		}
		cfg.NodeName = h
	}
	setDefaults(&cfg)
	rc := rest.CopyConfig(cfg.RestConfig)
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	if rc.UserAgent == "" {
		rc.UserAgent = "kubelet/" + cfg.KubeletVersion
	}
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 50, 100
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubelet client: %w", err)
	}
	// Events get their own client and rate limit, as upstream's
	// --event-qps: a burst of events never delays pod status writes.
	ec := rest.CopyConfig(rc)
	ec.QPS, ec.Burst = 50, 100
	events, err := kubernetes.NewForConfig(ec)
	if err != nil {
		return nil, fmt.Errorf("kubelet event client: %w", err)
	}
	return &Kubelet{cfg: cfg, client: client, events: events, runtime: cfg.Runtime, images: cfg.Images,
		log: slog.Default().With("component", "kubelet", "node", cfg.NodeName), ready: make(chan struct{})}, nil
}

func setDefaults(cfg *Config) {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&cfg.RuntimeEndpoint, "unix:///run/containerd/containerd.sock")
	def(&cfg.RootDir, "/var/lib/kubelet")
	def(&cfg.PodLogsDir, "/var/log/pods")
	def(&cfg.CNIConfDir, "/etc/cni/net.d")
	def(&cfg.ClusterDomain, "cluster.local")
	def(&cfg.ResolvConf, "/etc/resolv.conf")
	def(&cfg.KubeletVersion, "v1.37.2-kubelab")
	def(&cfg.MachineRoot, "/")
	if cfg.MaxPods <= 0 {
		cfg.MaxPods = 110
	}
}

// Ready is closed once the node is registered and the pod sources synced.
func (k *Kubelet) Ready() <-chan struct{} { return k.ready }

// Run runs the kubelet until ctx ends.
func (k *Kubelet) Run(ctx context.Context) error {
	if err := k.connect(ctx); err != nil {
		return err
	}
	defer k.runtime.Close(context.Background())
	if err := k.build(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: k.events.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	recorder := broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: k.cfg.NodeName})
	k.probes = prober.NewManager(k.runtime, recorder, func(uid types.UID) { k.workers.Update(uid) })
	defer k.probes.Stop()
	k.workers = pods.NewWorkers(ctx, nil)
	k.pods = pods.NewManager(func(uid types.UID) { k.workers.Update(uid) })

	podFactory := informers.NewSharedInformerFactoryWithOptions(k.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", k.cfg.NodeName).String()
		}))
	podInformer := podFactory.Core().V1().Pods().Informer()
	_, _ = podInformer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { k.onPod(obj, false) },
		UpdateFunc: func(_, obj any) { k.onPod(obj, false) },
		DeleteFunc: func(obj any) { k.onPod(obj, true) },
	})
	svcFactory := informers.NewSharedInformerFactory(k.client, 0)
	services := svcFactory.Core().V1().Services()
	objects := &envvars.APIObjects{Client: k.client, ServiceLister: services.Lister()}
	_ = services.Informer()

	in := k.machineInfo()
	capacity := in.Capacity(k.cfg.MaxPods)
	allocatable := machine.Allocatable(capacity, k.cfg.Reserved)
	k.syncer = pods.NewSyncer(pods.Options{
		Client: k.client, Runtime: k.runtime, Images: k.images, Layout: k.layout,
		Volumes: &volumes.Manager{RootDir: k.cfg.RootDir, Objects: objects, Mounter: volumes.SystemMounter{}},
		Objects: objects, Probes: k.probes, Recorder: recorder, Pods: k.pods,
		NodeIP:           func() string { return k.nodeIP().String() },
		Allocatable:      func() corev1.ResourceList { return allocatable },
		MemoryCapacity:   in.MemoryBytes,
		NetworkReady:     k.agent.NetworkReady,
		ImagePullTimeout: k.cfg.ImagePullTimeout,
	})
	k.workers.SetSync(k.syncer.Sync)
	// The agent starts once the workers exist: its readiness changes
	// resync pods.
	wg.Go(func() {
		if err := k.agent.Run(ctx); err != nil {
			errc <- fmt.Errorf("node agent: %w", err)
		}
	})

	podFactory.Start(ctx.Done())
	svcFactory.Start(ctx.Done())
	defer podFactory.Shutdown()
	defer svcFactory.Shutdown()
	if k.cfg.PodManifestPath != "" {
		static := &staticpods.Source{Dir: k.cfg.PodManifestPath, NodeName: k.cfg.NodeName, OnPods: k.pods.SetStaticPods}
		wg.Go(func() { static.Run(ctx) })
		mirrors := &staticpods.Mirrors{Client: k.client, Pods: k.pods, NodeName: k.cfg.NodeName, NodeUID: k.agent.UID}
		wg.Go(func() {
			select {
			case <-k.agent.Registered():
			case <-ctx.Done():
				return
			}
			mirrors.Run(ctx, 2*time.Second)
		})
	}
	if !cache.WaitForCacheSync(ctx.Done(), podInformer.HasSynced, services.Informer().HasSynced) {
		return nil // ctx ended
	}
	if k.cfg.Server != nil {
		srv, err := k.newServer()
		if err != nil {
			return err
		}
		if err := srv.Listen(); err != nil {
			return fmt.Errorf("kubelet server: %w", err)
		}
		wg.Go(func() {
			if err := srv.Run(ctx); err != nil {
				errc <- fmt.Errorf("kubelet server: %w", err)
			}
		})
	}
	// Only now may the relist treat unknown pods as gone.
	wg.Go(func() { k.relist(ctx) })
	go func() {
		select {
		case <-k.agent.Registered():
			k.readyOnce.Do(func() { close(k.ready) })
			k.log.Info("kubelet ready", "pods", len(k.pods.UIDs()))
		case <-ctx.Done():
		}
	}()
	select {
	case <-ctx.Done():
	case err := <-errc:
		cancel()
		k.workers.Wait()
		return err
	}
	k.workers.Wait()
	return nil
}

// connect dials the CRI unless a runtime was given.
func (k *Kubelet) connect(ctx context.Context) error {
	if k.runtime != nil {
		return nil
	}
	rt, err := remote.NewRemoteRuntimeService(ctx, k.cfg.RuntimeEndpoint, 2*time.Minute, nil, false)
	if err != nil {
		return fmt.Errorf("connect to the container runtime at %s: %w", k.cfg.RuntimeEndpoint, err)
	}
	img, err := remote.NewRemoteImageService(ctx, k.cfg.RuntimeEndpoint, 2*time.Minute, nil, false)
	if err != nil {
		return fmt.Errorf("connect to the image service at %s: %w", k.cfg.RuntimeEndpoint, err)
	}
	k.runtime, k.images = rt, img
	return nil
}

// build makes the node agent and the pod layout.
func (k *Kubelet) build(ctx context.Context) error {
	ip, err := machine.NodeIP(k.cfg.NodeIP, "eth0")
	if err != nil {
		return err
	}
	k.cfg.NodeIP = ip.String()
	for _, d := range []string{k.cfg.RootDir, k.cfg.PodLogsDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	cgroupRoot := k.cfg.CgroupRoot
	if cgroupRoot == "" {
		cgroupRoot = path.Join(machine.NodeCgroup(k.cfg.MachineRoot), "kubepods")
	}
	k.layout = &podruntime.Config{RootDir: k.cfg.RootDir, PodLogsDir: k.cfg.PodLogsDir, CgroupRoot: cgroupRoot,
		ClusterDNS: k.cfg.ClusterDNS, ClusterDomain: k.cfg.ClusterDomain, ResolvConf: k.cfg.ResolvConf}
	in := k.machineInfo()
	capacity := in.Capacity(k.cfg.MaxPods)
	k.agent = node.New(node.Options{
		Client: k.client, Runtime: k.runtime, Name: k.cfg.NodeName, IP: ip,
		Machine: in, Capacity: capacity, Allocatable: machine.Allocatable(capacity, k.cfg.Reserved),
		Labels: k.cfg.NodeLabels, Taints: k.cfg.RegisterWithTaints, KubeletVersion: k.cfg.KubeletVersion,
		Port: k.serverPort(), LeaseDurationSeconds: k.cfg.LeaseDurationSeconds, ReportInterval: k.cfg.StatusReportInterval,
		CNIConfDir: k.cfg.CNIConfDir, CNI: k.cfg.CNI,
		OnReadyChange: func(ready bool) {
			if ready && k.workers != nil {
				for _, uid := range k.pods.UIDs() {
					k.workers.Update(uid)
				}
			}
		},
	})
	k.log.Info("kubelet starting", "ip", ip.String(), "cgroupRoot", cgroupRoot,
		"cpu", capacity.Cpu().String(), "memory", capacity.Memory().String(), "runtime", k.cfg.RuntimeEndpoint)
	return nil
}

// machineInfo reads the machine, falling back to what Go knows.
func (k *Kubelet) machineInfo() machine.Info {
	in, err := machine.Read(k.cfg.MachineRoot, k.cfg.RootDir)
	if err != nil {
		k.log.Warn("read machine info", "err", err)
	}
	return in
}

func (k *Kubelet) nodeIP() net.IP { return net.ParseIP(k.cfg.NodeIP) }

func (k *Kubelet) serverPort() int32 {
	if k.cfg.Server != nil && k.cfg.Server.Port != 0 {
		return int32(k.cfg.Server.Port)
	}
	return 10250
}

// onPod feeds the pod manager from the informer.
func (k *Kubelet) onPod(obj any, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj, deleted = t.Obj, true
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if deleted {
		k.pods.DeleteAPIPod(pod)
		return
	}
	k.pods.SetAPIPod(pod)
}
