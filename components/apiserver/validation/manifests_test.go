package validation

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/yaml"

	"github.com/kubelab/kubelab/components/apiserver/defaults"
)

// Manifests as real clusters run them must pass after defaulting.
const kubeProxy = `
metadata: {name: kube-proxy, namespace: kube-system, labels: {k8s-app: kube-proxy}}
spec:
  selector: {matchLabels: {k8s-app: kube-proxy}}
  template:
    metadata: {labels: {k8s-app: kube-proxy}}
    spec:
      hostNetwork: true
      priorityClassName: system-node-critical
      serviceAccountName: kube-proxy
      nodeSelector: {kubernetes.io/os: linux}
      tolerations: [{operator: Exists}]
      containers:
      - name: kube-proxy
        image: registry.k8s.io/kube-proxy:v1.33.1
        command: [/usr/local/bin/kube-proxy, --config=/var/lib/kube-proxy/config.conf, --hostname-override=$(NODE_NAME)]
        env: [{name: NODE_NAME, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]
        securityContext: {privileged: true}
        volumeMounts:
        - {name: kube-proxy, mountPath: /var/lib/kube-proxy}
        - {name: xtables-lock, mountPath: /run/xtables.lock}
        - {name: lib-modules, mountPath: /lib/modules, readOnly: true}
      volumes:
      - {name: kube-proxy, configMap: {name: kube-proxy}}
      - {name: xtables-lock, hostPath: {path: /run/xtables.lock, type: FileOrCreate}}
      - {name: lib-modules, hostPath: {path: /lib/modules}}
`

const coreDNS = `
metadata: {name: coredns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  replicas: 2
  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: 1}}
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      priorityClassName: system-cluster-critical
      serviceAccountName: coredns
      dnsPolicy: Default
      affinity:
        podAntiAffinity:
          preferredDuringSchedulingIgnoredDuringExecution:
          - weight: 100
            podAffinityTerm:
              labelSelector: {matchExpressions: [{key: k8s-app, operator: In, values: [kube-dns]}]}
              topologyKey: kubernetes.io/hostname
      tolerations:
      - {key: CriticalAddonsOnly, operator: Exists}
      - {key: node-role.kubernetes.io/control-plane, effect: NoSchedule}
      containers:
      - name: coredns
        image: registry.k8s.io/coredns/coredns:v1.12.0
        args: [-conf, /etc/coredns/Corefile]
        resources: {limits: {memory: 170Mi}, requests: {cpu: 100m, memory: 70Mi}}
        ports:
        - {containerPort: 53, name: dns, protocol: UDP}
        - {containerPort: 53, name: dns-tcp, protocol: TCP}
        - {containerPort: 9153, name: metrics, protocol: TCP}
        securityContext:
          allowPrivilegeEscalation: false
          capabilities: {add: [NET_BIND_SERVICE], drop: [ALL]}
          readOnlyRootFilesystem: true
        livenessProbe: {httpGet: {path: /health, port: 8080, scheme: HTTP}, initialDelaySeconds: 60, timeoutSeconds: 5, failureThreshold: 5}
        readinessProbe: {httpGet: {path: /ready, port: 8181, scheme: HTTP}}
        volumeMounts: [{name: config-volume, mountPath: /etc/coredns, readOnly: true}]
      volumes:
      - name: config-volume
        configMap: {name: coredns, items: [{key: Corefile, path: Corefile}]}
`

const kubeDNSService = `
metadata: {name: kube-dns, namespace: kube-system, labels: {k8s-app: kube-dns}}
spec:
  clusterIP: 10.96.0.10
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, protocol: UDP, targetPort: 53}
  - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
  - {name: metrics, port: 9153, protocol: TCP, targetPort: 9153}
`

const staticPod = `
metadata:
  name: etcd-kind-control-plane
  namespace: kube-system
  annotations: {kubernetes.io/config.mirror: abc, kubernetes.io/config.source: file}
spec:
  nodeName: kind-control-plane
  hostNetwork: true
  priorityClassName: system-node-critical
  securityContext: {seccompProfile: {type: RuntimeDefault}}
  containers:
  - name: etcd
    image: registry.k8s.io/etcd:3.5.21-0
    command: [etcd, --data-dir=/var/lib/etcd]
    resources: {requests: {cpu: 100m, memory: 100Mi}}
    startupProbe: {httpGet: {host: 127.0.0.1, path: /readyz, port: 2381}, failureThreshold: 24, periodSeconds: 10}
    volumeMounts: [{name: etcd-data, mountPath: /var/lib/etcd}]
  volumes:
  - {name: etcd-data, hostPath: {path: /var/lib/etcd, type: DirectoryOrCreate}}
`

func TestRealManifests(t *testing.T) {
	tests := []struct {
		name     string
		manifest string
		check    func(t *testing.T, manifest string) field.ErrorList
	}{
		{"kube-proxy daemon set", kubeProxy, func(t *testing.T, m string) field.ErrorList {
			var ds appsv1.DaemonSet
			decode(t, m, &ds)
			defaults.DaemonSet(&ds)
			return ValidateDaemonSet(&ds)
		}},
		{"coredns deployment", coreDNS, func(t *testing.T, m string) field.ErrorList {
			var d appsv1.Deployment
			decode(t, m, &d)
			defaults.Deployment(&d)
			return ValidateDeployment(&d)
		}},
		{"kube-dns service", kubeDNSService, func(t *testing.T, m string) field.ErrorList {
			var s corev1.Service
			decode(t, m, &s)
			defaults.Service(&s)
			return ValidateService(&s)
		}},
		{"etcd mirror pod", staticPod, func(t *testing.T, m string) field.ErrorList {
			var p corev1.Pod
			decode(t, m, &p)
			defaults.Pod(&p)
			return ValidatePod(&p)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expect(t, tt.check(t, tt.manifest))
		})
	}
}

func decode(t *testing.T, manifest string, into interface{}) {
	t.Helper()
	if err := yaml.UnmarshalStrict([]byte(manifest), into); err != nil {
		t.Fatalf("decode: %v", err)
	}
}
