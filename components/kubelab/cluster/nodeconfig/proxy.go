package nodeconfig

import (
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

// kube-proxy in a lab cluster: a DaemonSet in kube-system, as kind and
// kubeadm run it, on the host network of every node.
const (
	// Proxy is the DaemonSet's name and its pods' k8s-app label.
	Proxy = "kube-proxy"
	// ProxyKubeconfigPath is kube-proxy's kubeconfig on every node (user
	// system:kube-proxy), mounted into its pods: lab clusters have no
	// service-account tokens yet.
	ProxyKubeconfigPath = KubernetesDir + "/kube-proxy.conf"
	// ProxyHealthzPort answers /healthz once the rules were synced.
	ProxyHealthzPort = 10256
)

// ProxyDaemonSet is kube-proxy's DaemonSet: one pod per node whatever its
// taints, hostNetwork with NET_ADMIN and NET_RAW (nftables, conntrack and
// routes through netlink; nothing privileged), Ready once its first sync
// programmed the node. It routes Services (ClusterIP, NodePort) and keeps
// a route to every other node's podCIDR (--sync-pod-routes), so pods
// reach each other across nodes on the cluster's Docker network.
func ProxyDaemonSet(c Cluster) *appsv1.DaemonSet {
	labels := map[string]string{"k8s-app": Proxy}
	const confInPod = "/var/lib/kube-proxy/kubeconfig.conf"
	args := []string{
		"--kubeconfig=" + confInPod,
		"--hostname-override=$(NODE_NAME)",
		"--cluster-cidr=" + c.PodSubnet,
		"--sync-pod-routes",
		// The node's kubelet leaves the CNI bridge's ipMasq off
		// (--cni-no-masquerade): one rule here instead of iptables
		// calls for every pod, and pod IPs kept between nodes.
		"--masquerade-pod-egress",
		"--healthz-bind-address=0.0.0.0:" + strconv.Itoa(ProxyHealthzPort),
	}
	return &appsv1.DaemonSet{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "DaemonSet"},
		ObjectMeta: metav1.ObjectMeta{Name: Proxy, Namespace: metav1.NamespaceSystem, Labels: labels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			UpdateStrategy: appsv1.DaemonSetUpdateStrategy{
				Type:          appsv1.RollingUpdateDaemonSetStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxUnavailable: ptr.To(intstr.FromInt32(1))},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					HostNetwork:       true,
					PriorityClassName: "system-node-critical",
					DNSPolicy:         corev1.DNSDefault, // the node's resolver: it finds the control-plane node by name
					NodeSelector:      map[string]string{corev1.LabelOSStable: "linux"},
					Tolerations:       []corev1.Toleration{{Operator: corev1.TolerationOpExists}},
					Containers: []corev1.Container{{
						Name:            Proxy,
						Image:           c.Images.Proxy,
						ImagePullPolicy: corev1.PullIfNotPresent,
						Args:            args,
						Env: []corev1.EnvVar{{
							Name:      "NODE_NAME",
							ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}},
						}},
						SecurityContext: &corev1.SecurityContext{
							Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}},
						},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
								Path: "/healthz", Port: intstr.FromInt32(ProxyHealthzPort),
							}},
							PeriodSeconds: 1, FailureThreshold: 3,
						},
						VolumeMounts: []corev1.VolumeMount{{Name: "kubeconfig", MountPath: confInPod, ReadOnly: true}},
					}},
					Volumes: []corev1.Volume{{
						Name: "kubeconfig",
						VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{
							Path: ProxyKubeconfigPath, Type: ptr.To(corev1.HostPathFile),
						}},
					}},
				},
			},
		},
	}
}
