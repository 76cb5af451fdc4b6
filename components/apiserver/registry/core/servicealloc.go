package core

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/kubelab/kubelab/components/apiserver/registry"
	"github.com/kubelab/kubelab/components/apiserver/storage"
)

// Keys under which allocations are recorded, one key per IP or port, so
// that etcd's create-if-absent makes concurrent allocations safe.
const (
	clusterIPPrefix = "/registry/ipallocations/"
	nodePortPrefix  = "/registry/servicenodeports/"
)

// ServiceAllocator hands out ClusterIPs from the service CIDR and NodePorts
// from their range, each at most once, and takes them back on delete.
type ServiceAllocator struct {
	store    *storage.Store
	cidr     *net.IPNet
	size     int64 // addresses in the CIDR
	portBase int
	portSize int
}

// NewServiceAllocator allocates from cidr (e.g. 10.96.0.0/12) and the node
// port range [portMin, portMax].
func NewServiceAllocator(s *storage.Store, cidr string, portMin, portMax int) (*ServiceAllocator, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil {
		return nil, fmt.Errorf("service cluster IP range %q: %w", cidr, err)
	}
	ones, bits := n.Mask.Size()
	if bits != 32 || bits-ones < 2 || bits-ones > 20 {
		return nil, fmt.Errorf("service cluster IP range %q: need an IPv4 CIDR between /12 and /30", cidr)
	}
	if portMin < 1 || portMax > 65535 || portMin > portMax {
		return nil, fmt.Errorf("node port range %d-%d is invalid", portMin, portMax)
	}
	return &ServiceAllocator{store: s, cidr: n, size: 1 << (bits - ones), portBase: portMin, portSize: portMax - portMin + 1}, nil
}

// FirstIP is the address the "kubernetes" service takes.
func (a *ServiceAllocator) FirstIP() net.IP { return a.ipAt(1) }

func (a *ServiceAllocator) ipAt(offset int64) net.IP {
	base := new(big.Int).SetBytes(a.cidr.IP.To4())
	ip := new(big.Int).Add(base, big.NewInt(offset)).Bytes()
	out := make(net.IP, 4)
	copy(out[4-len(ip):], ip)
	return out
}

// Hooks returns the service registry hooks that allocate and release.
func (a *ServiceAllocator) Hooks() registry.Hooks {
	return registry.Hooks{Admit: a.admit, Updated: a.updated, Deleted: a.deleted}
}

func owner(svc *corev1.Service) string { return string(svc.UID) }

func (a *ServiceAllocator) admit(ctx context.Context, obj, old runtime.Object, dryRun bool) (func(), error) {
	svc := obj.(*corev1.Service)
	var oldSvc *corev1.Service
	if old != nil {
		oldSvc = old.(*corev1.Service)
	}
	var taken []string
	undo := func() {
		for _, k := range taken {
			a.release(context.WithoutCancel(ctx), k, owner(svc))
		}
	}
	fail := func(err error) (func(), error) {
		undo()
		return nil, err
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
	} else if oldSvc != nil && oldSvc.Spec.ClusterIP != "" && svc.Spec.ClusterIP == "" {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = oldSvc.Spec.ClusterIP, oldSvc.Spec.ClusterIPs
	} else if oldSvc == nil || oldSvc.Spec.ClusterIP == "" {
		switch svc.Spec.ClusterIP {
		case corev1.ClusterIPNone:
		case "":
			ip, key, err := a.allocateIP(ctx, svc)
			if err != nil {
				return fail(err)
			}
			taken = append(taken, key)
			svc.Spec.ClusterIP = ip
		default:
			key, err := a.reserveIP(ctx, svc, svc.Spec.ClusterIP)
			if err != nil {
				return fail(err)
			}
			taken = append(taken, key)
		}
		if svc.Spec.ClusterIP != "" {
			svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if p.NodePort == 0 && oldSvc != nil {
				p.NodePort = oldNodePort(oldSvc, p)
			}
			if p.NodePort != 0 && oldSvc != nil && hasNodePort(oldSvc, p.NodePort) {
				continue
			}
			path := field.NewPath("spec", "ports").Index(i).Child("nodePort")
			if p.NodePort == 0 {
				port, key, err := a.allocatePort(ctx, svc)
				if err != nil {
					return fail(err)
				}
				taken = append(taken, key)
				p.NodePort = port
				continue
			}
			key := nodePortPrefix + strconv.Itoa(int(p.NodePort))
			if int(p.NodePort) < a.portBase || int(p.NodePort) >= a.portBase+a.portSize {
				return fail(invalidService(svc, field.Invalid(path, p.NodePort,
					fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", a.portBase, a.portBase+a.portSize-1))))
			}
			if taken2, err := a.take(ctx, key, svc); err != nil {
				return fail(err)
			} else if !taken2 {
				return fail(invalidService(svc, field.Invalid(path, p.NodePort, "provided port is already allocated")))
			}
			taken = append(taken, key)
		}
	} else {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	return undo, nil
}

func oldNodePort(old *corev1.Service, p *corev1.ServicePort) int32 {
	for _, op := range old.Spec.Ports {
		if op.Port == p.Port && op.Protocol == p.Protocol {
			return op.NodePort
		}
	}
	return 0
}

func hasNodePort(old *corev1.Service, port int32) bool {
	for _, op := range old.Spec.Ports {
		if op.NodePort == port {
			return true
		}
	}
	return false
}

func invalidService(svc *corev1.Service, e *field.Error) error {
	return apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, field.ErrorList{e})
}

// take records key as svc's if nobody holds it.
func (a *ServiceAllocator) take(ctx context.Context, key string, svc *corev1.Service) (bool, error) {
	_, err := a.store.Create(ctx, key, []byte(owner(svc)))
	if errors.Is(err, storage.ErrExists) {
		return false, nil
	}
	if err != nil {
		return false, apierrors.NewInternalError(err)
	}
	return true, nil
}

func (a *ServiceAllocator) allocateIP(ctx context.Context, svc *corev1.Service) (string, string, error) {
	// Offsets 0 (network), 1 (the kubernetes service) and the last
	// (broadcast) are never handed out at random. Upstream's static band
	// is the first min(max(16, size/16), 256) addresses after the network.
	band := max(staticBand(a.size, 16, 16, 256)-1, 0)
	off, ok, err := scanBands(2, a.size-2, band, func(off int64) (bool, error) {
		return a.take(ctx, clusterIPPrefix+a.ipAt(off).String(), svc)
	})
	if err != nil {
		return "", "", err
	}
	if !ok {
		return "", "", apierrors.NewInternalError(errors.New("failed to allocate a serviceIP: range is full"))
	}
	ip := a.ipAt(off).String()
	return ip, clusterIPPrefix + ip, nil
}

// staticBand is upstream's size of the lower band of a range of size
// values, min(max(lo, size/step), hi) (0 for tiny ranges): random
// allocations use it only once the rest is full, so that values users ask
// for there do not collide with random ones (ServiceIPStaticSubrange,
// ServiceNodePortStaticSubrange).
func staticBand(size, lo, step, hi int64) int64 {
	if size <= lo {
		return 0
	}
	return min(max(lo, size/step), hi)
}

// scanBands tries the values of [first, last] in random order, those past
// the static band [first, first+band) first, until try takes one.
func scanBands(first, last, band int64, try func(int64) (bool, error)) (int64, bool, error) {
	for _, r := range [][2]int64{{first + band, last}, {first, first + band - 1}} {
		n := r[1] - r[0] + 1
		if n <= 0 {
			continue
		}
		start := rand.Int64N(n)
		for i := range n {
			v := r[0] + (start+i)%n
			if ok, err := try(v); err != nil || ok {
				return v, ok, err
			}
		}
	}
	return 0, false, nil
}

func (a *ServiceAllocator) reserveIP(ctx context.Context, svc *corev1.Service, ipStr string) (string, error) {
	path := field.NewPath("spec", "clusterIPs").Index(0)
	ip := net.ParseIP(ipStr).To4()
	if ip == nil || !a.cidr.Contains(ip) {
		return "", invalidService(svc, field.Invalid(path, ipStr,
			fmt.Sprintf("failed to allocate IP %s: provided IP is not in the valid range. The range of valid IPs is %s", ipStr, a.cidr)))
	}
	key := clusterIPPrefix + ip.String()
	ok, err := a.take(ctx, key, svc)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", invalidService(svc, field.Invalid(path, ipStr,
			fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ipStr)))
	}
	return key, nil
}

func (a *ServiceAllocator) allocatePort(ctx context.Context, svc *corev1.Service) (int32, string, error) {
	first, last := int64(a.portBase), int64(a.portBase+a.portSize-1)
	port, ok, err := scanBands(first, last, staticBand(int64(a.portSize), 16, 32, 128), func(p int64) (bool, error) {
		return a.take(ctx, nodePortPrefix+strconv.FormatInt(p, 10), svc)
	})
	if err != nil {
		return 0, "", err
	}
	if !ok {
		return 0, "", apierrors.NewInternalError(errors.New("failed to allocate a nodePort: range is full"))
	}
	return int32(port), nodePortPrefix + strconv.FormatInt(port, 10), nil
}

// release frees key if owner still holds it.
func (a *ServiceAllocator) release(ctx context.Context, key, owner string) {
	kv, err := a.store.Get(ctx, key)
	if err != nil || string(kv.Value) != owner {
		return
	}
	_, _ = a.store.Delete(ctx, key, kv.ModRevision)
}

func (a *ServiceAllocator) deleted(ctx context.Context, obj runtime.Object) {
	a.releaseUnused(ctx, obj.(*corev1.Service), nil)
}

// updated frees what an update stopped using: node ports of a service that
// is no longer NodePort or LoadBalancer, cluster IPs of one that became
// ExternalName.
func (a *ServiceAllocator) updated(ctx context.Context, obj, old runtime.Object) {
	a.releaseUnused(ctx, old.(*corev1.Service), obj.(*corev1.Service))
}

// releaseUnused releases old's cluster IPs and node ports that cur (nil
// once deleted) does not use.
func (a *ServiceAllocator) releaseUnused(ctx context.Context, old, cur *corev1.Service) {
	ctx = context.WithoutCancel(ctx)
	inUse := map[string]bool{}
	if cur != nil {
		for _, ip := range cur.Spec.ClusterIPs {
			inUse[clusterIPPrefix+ip] = true
		}
		for _, p := range cur.Spec.Ports {
			inUse[nodePortPrefix+strconv.Itoa(int(p.NodePort))] = true
		}
	}
	for _, ip := range old.Spec.ClusterIPs {
		if key := clusterIPPrefix + ip; ip != corev1.ClusterIPNone && !inUse[key] {
			a.release(ctx, key, owner(old))
		}
	}
	for _, p := range old.Spec.Ports {
		if key := nodePortPrefix + strconv.Itoa(int(p.NodePort)); p.NodePort != 0 && !inUse[key] {
			a.release(ctx, key, owner(old))
		}
	}
}
