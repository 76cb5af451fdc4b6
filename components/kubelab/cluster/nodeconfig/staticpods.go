package nodeconfig

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/kubelab/kubelab/components/kubelab/cluster/certs"
)

// Paths on the control-plane node.
const (
	// ManifestDir is the kubelet's static pod directory.
	ManifestDir = "/etc/kubernetes/manifests"
	// EtcdDataDir is etcd's data directory, on the node's /var volume.
	EtcdDataDir = "/var/lib/etcd"
	// KubernetesDir holds the kubeconfigs.
	KubernetesDir = "/etc/kubernetes"
)

// Static pod names, as upstream's (the mirror pods are <name>-<node>).
const (
	Etcd              = "etcd"
	APIServer         = "kube-apiserver"
	Scheduler         = "kube-scheduler"
	ControllerManager = "kube-controller-manager"
)

// ControlPlaneComponents are the control plane's static pods, in start order.
var ControlPlaneComponents = []string{Etcd, APIServer, Scheduler, ControllerManager}

// EtcdArgs returns etcd's arguments: one member named after the node,
// clients and peers over TLS with etcd's CA, metrics on loopback.
func EtcdArgs(c Cluster) []string {
	ip := c.ControlPlane.IP
	pki := certs.Dir + "/etcd/"
	return []string{
		"--name=" + c.ControlPlane.Name,
		"--data-dir=" + EtcdDataDir,
		"--listen-client-urls=https://127.0.0.1:2379,https://" + ip + ":2379",
		"--advertise-client-urls=https://" + ip + ":2379",
		"--listen-peer-urls=https://" + ip + ":2380",
		"--initial-advertise-peer-urls=https://" + ip + ":2380",
		"--initial-cluster=" + c.ControlPlane.Name + "=https://" + ip + ":2380",
		"--listen-metrics-urls=http://127.0.0.1:2381",
		"--cert-file=" + pki + "server.crt",
		"--key-file=" + pki + "server.key",
		"--client-cert-auth=true",
		"--trusted-ca-file=" + pki + "ca.crt",
		"--peer-cert-file=" + pki + "server.crt",
		"--peer-key-file=" + pki + "server.key",
		"--peer-client-cert-auth=true",
		"--peer-trusted-ca-file=" + pki + "ca.crt",
		"--snapshot-count=10000",
	}
}

// APIServerArgs returns kube-apiserver's arguments: external etcd on
// loopback, the cluster CA for client certificates, the service CIDR, and
// kubeadm's apiserver-kubelet-client pair for the kubelets' APIs (logs,
// exec), whose serving certificates the cluster CA signs.
func APIServerArgs(c Cluster) []string {
	pki := certs.Dir + "/"
	return []string{
		"--advertise-address=" + c.ControlPlane.IP,
		"--bind-address=0.0.0.0",
		fmt.Sprintf("--secure-port=%d", APIServerPort),
		"--tls-cert-file=" + pki + "apiserver.crt",
		"--tls-private-key-file=" + pki + "apiserver.key",
		"--client-ca-file=" + pki + "ca.crt",
		"--etcd-servers=https://127.0.0.1:2379",
		"--etcd-cafile=" + pki + "etcd/ca.crt",
		"--etcd-certfile=" + pki + "apiserver-etcd-client.crt",
		"--etcd-keyfile=" + pki + "apiserver-etcd-client.key",
		"--service-cluster-ip-range=" + c.ServiceSubnet,
		"--kubelet-client-certificate=" + pki + "apiserver-kubelet-client.crt",
		"--kubelet-client-key=" + pki + "apiserver-kubelet-client.key",
		"--kubelet-certificate-authority=" + pki + "ca.crt",
	}
}

// SchedulerArgs returns kube-scheduler's arguments.
func SchedulerArgs(Cluster) []string {
	return []string{
		"--kubeconfig=" + KubernetesDir + "/scheduler.conf",
		"--leader-elect=true",
	}
}

// ControllerManagerArgs returns kube-controller-manager's arguments: node
// IPAM hands out /24s of the pod subnet.
func ControllerManagerArgs(c Cluster) []string {
	return []string{
		"--kubeconfig=" + KubernetesDir + "/controller-manager.conf",
		"--leader-elect=true",
		"--cluster-cidr=" + c.PodSubnet,
		"--node-cidr-mask-size=24",
	}
}

// StaticPods returns the control plane's static pod manifests keyed by
// their path on the control-plane node. Each runs its kubelab image's
// entrypoint with the arguments above, on the host network, at
// system-node-critical priority, with the files it needs mounted from the
// node, as kubeadm writes them.
func StaticPods(c Cluster) (map[string][]byte, error) {
	pkiVolume := hostPathVolume("k8s-certs", certs.Dir, corev1.HostPathDirectoryOrCreate)
	conf := func(name string) corev1.Volume {
		return hostPathVolume("kubeconfig", KubernetesDir+"/"+name, corev1.HostPathFileOrCreate)
	}
	pods := []*corev1.Pod{
		staticPod(Etcd, c.Images.Etcd, EtcdArgs(c), &corev1.Probe{
			ProbeHandler: httpGet("127.0.0.1", 2381, "/livez", corev1.URISchemeHTTP),
		}, hostPathVolume("etcd-data", EtcdDataDir, corev1.HostPathDirectoryOrCreate),
			hostPathVolume("etcd-certs", certs.Dir+"/etcd", corev1.HostPathDirectoryOrCreate)),
		staticPod(APIServer, c.Images.APIServer, APIServerArgs(c), &corev1.Probe{
			ProbeHandler: httpGet(c.ControlPlane.IP, APIServerPort, "/livez", corev1.URISchemeHTTPS),
		}, pkiVolume),
		staticPod(Scheduler, c.Images.Scheduler, SchedulerArgs(c), nil, conf("scheduler.conf")),
		staticPod(ControllerManager, c.Images.ControllerManager, ControllerManagerArgs(c), nil,
			conf("controller-manager.conf"), pkiVolume),
	}
	// The API server is ready only when /readyz says so (etcd reachable).
	pods[1].Spec.Containers[0].ReadinessProbe = &corev1.Probe{
		ProbeHandler:     httpGet(c.ControlPlane.IP, APIServerPort, "/readyz", corev1.URISchemeHTTPS),
		TimeoutSeconds:   15,
		PeriodSeconds:    1,
		FailureThreshold: 3,
	}
	files := map[string][]byte{}
	for _, p := range pods {
		if p.Spec.Containers[0].Image == "" {
			return nil, fmt.Errorf("no image for static pod %s", p.Name)
		}
		data, err := yaml.Marshal(p)
		if err != nil {
			return nil, fmt.Errorf("encode static pod %s: %w", p.Name, err)
		}
		files[ManifestDir+"/"+p.Name+".yaml"] = data
	}
	return files, nil
}

// cpuRequests are kubeadm's CPU requests of the control-plane pods.
var cpuRequests = map[string]string{Etcd: "100m", APIServer: "250m", Scheduler: "100m", ControllerManager: "200m"}

func staticPod(name, image string, args []string, liveness *corev1.Probe, volumes ...corev1.Volume) *corev1.Pod {
	var mounts []corev1.VolumeMount
	for _, v := range volumes {
		mounts = append(mounts, corev1.VolumeMount{
			Name:      v.Name,
			MountPath: v.HostPath.Path,
			ReadOnly:  v.Name != "etcd-data",
		})
	}
	if liveness != nil {
		// kubeadm's timing: a slow start is not a failure.
		liveness.InitialDelaySeconds = 10
		liveness.TimeoutSeconds = 15
		liveness.PeriodSeconds = 10
		liveness.FailureThreshold = 8
	}
	var startup *corev1.Probe
	if liveness != nil {
		// kubeadm's budget (4 minutes) probed every second, so the mirror
		// pod is Ready about a second after its component is.
		startup = liveness.DeepCopy()
		startup.InitialDelaySeconds = 0
		startup.PeriodSeconds = 1
		startup.FailureThreshold = 240
	}
	return &corev1.Pod{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      name,
			Namespace: metav1.NamespaceSystem,
			Labels:    map[string]string{"component": name, "tier": "control-plane"},
		},
		Spec: corev1.PodSpec{
			HostNetwork:       true,
			PriorityClassName: "system-node-critical",
			SecurityContext: &corev1.PodSecurityContext{
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            name,
				Image:           image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Args:            args,
				LivenessProbe:   liveness,
				StartupProbe:    startup,
				VolumeMounts:    mounts,
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuRequests[name])},
				},
			}},
			Volumes: volumes,
		},
	}
}

func hostPathVolume(name, path string, t corev1.HostPathType) corev1.Volume {
	return corev1.Volume{
		Name:         name,
		VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path, Type: &t}},
	}
}

func httpGet(host string, port int, path string, scheme corev1.URIScheme) corev1.ProbeHandler {
	return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
		Host: host, Port: intstr.FromInt32(int32(port)), Path: path, Scheme: scheme,
	}}
}
