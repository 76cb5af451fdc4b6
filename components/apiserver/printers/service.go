package printers

import (
	"fmt"
	"net"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	discoveryv1beta1 "k8s.io/api/discovery/v1beta1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
)

// This file holds service discovery: services, endpoints, endpoint slices.

// maxListed is how many endpoints or ports a cell lists before "+ N more...".
const maxListed = 3

// ServiceColumns are the columns of `kubectl get services`.
var ServiceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Type", "string", corev1.ServiceSpec{}.SwaggerDoc()["type"]),
	column("Cluster-IP", "string", corev1.ServiceSpec{}.SwaggerDoc()["clusterIP"]),
	column("External-IP", "string", corev1.ServiceSpec{}.SwaggerDoc()["externalIPs"]),
	column("Port(s)", "string", corev1.ServiceSpec{}.SwaggerDoc()["ports"]),
	ageColumn,
	wideColumn("Selector", "string", corev1.ServiceSpec{}.SwaggerDoc()["selector"]),
}

// ServiceRow returns the cells of a service: PORT(S) like
// "80:30080/TCP,53/UDP", EXTERNAL-IP from externalIPs and, for load
// balancers, the ingress points or "<pending>".
func ServiceRow(svc *corev1.Service) []interface{} {
	clusterIP := none
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	} else if svc.Spec.ClusterIP != "" {
		// Defaulting copies clusterIP into clusterIPs; read it if it did not.
		clusterIP = svc.Spec.ClusterIP
	}
	ports := servicePorts(svc.Spec.Ports)
	if ports == "" {
		ports = none
	}
	return []interface{}{
		svc.Name,
		string(svc.Spec.Type),
		clusterIP,
		serviceExternalIP(svc),
		ports,
		age(svc.CreationTimestamp),
		labels.FormatLabels(svc.Spec.Selector),
	}
}

// ServiceFields returns the fields a service field selector may use.
func ServiceFields(svc *corev1.Service) fields.Set {
	return fields.Set{"spec.clusterIP": svc.Spec.ClusterIP, "spec.type": string(svc.Spec.Type)}
}

// serviceExternalIP follows upstream's getServiceExternalIP with wide output,
// which is what the server always generates.
func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return none
	case corev1.ServiceTypeLoadBalancer:
		lb := loadBalancerIngress(svc.Status.LoadBalancer)
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(append(lb, svc.Spec.ExternalIPs...), ",")
		}
		if len(lb) > 0 {
			return strings.Join(lb, ",")
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return unknown
}

// loadBalancerIngress returns the sorted, distinct IPs (or hostnames) of a
// load balancer's ingress points.
func loadBalancerIngress(s corev1.LoadBalancerStatus) []string {
	result := sets.New[string]()
	for _, in := range s.Ingress {
		if in.IP != "" {
			result.Insert(in.IP)
		} else if in.Hostname != "" {
			result.Insert(in.Hostname)
		}
	}
	return sets.List(result)
}

// servicePorts renders ports as "port[:nodePort]/protocol", comma separated.
func servicePorts(ports []corev1.ServicePort) string {
	pieces := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			pieces[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			pieces[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(pieces, ",")
}

// EndpointsColumns are the columns of `kubectl get endpoints`.
var EndpointsColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
	ageColumn,
}

// EndpointsRow returns the cells of an endpoints object: the first three
// ip:port pairs and "+ N more..." for the rest.
func EndpointsRow(ep *corev1.Endpoints) []interface{} {
	return []interface{}{ep.Name, formatEndpoints(ep), age(ep.CreationTimestamp)}
}

// formatEndpoints follows upstream's formatEndpoints for all ports.
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return none
	}
	var list []string
	more := false
	count := 0
	add := func(s string) {
		count++
		if len(list) == maxListed {
			more = true
			return
		}
		list = append(list, s)
	}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			// Headless services may have no ports.
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	ret := strings.Join(list, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", ret, count-maxListed)
	}
	return ret
}

// EndpointSliceColumns are the columns of `kubectl get endpointslices`.
var EndpointSliceColumns = []metav1.TableColumnDefinition{
	nameColumn,
	column("AddressType", "string", discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["addressType"]),
	column("Ports", "string", discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["ports"]),
	column("Endpoints", "string", discoveryv1beta1.EndpointSlice{}.SwaggerDoc()["endpoints"]),
	ageColumn,
}

// EndpointSliceRow returns the cells of an endpoint slice.
func EndpointSliceRow(es *discoveryv1.EndpointSlice) []interface{} {
	return []interface{}{
		es.Name,
		string(es.AddressType),
		slicePorts(es.Ports),
		sliceEndpoints(es.Endpoints),
		age(es.CreationTimestamp),
	}
}

// slicePorts lists port numbers (or names, or "*").
func slicePorts(ports []discoveryv1.EndpointPort) string {
	var list []string
	for _, p := range ports {
		if len(list) == maxListed {
			break
		}
		switch {
		case p.Port != nil:
			list = append(list, strconv.Itoa(int(*p.Port)))
		case p.Name != nil:
			list = append(list, *p.Name)
		default:
			list = append(list, "*")
		}
	}
	return listWithMore(list, len(ports) > maxListed, len(ports), maxListed)
}

// sliceEndpoints lists endpoint addresses.
func sliceEndpoints(endpoints []discoveryv1.Endpoint) string {
	var list []string
	count := 0
	for _, e := range endpoints {
		for _, a := range e.Addresses {
			if len(list) < maxListed {
				list = append(list, a)
			}
			count++
		}
	}
	return listWithMore(list, count > maxListed, count, maxListed)
}
