package envvars

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// serviceEnv is the service link environment of pod: the API server's
// "kubernetes" service always, and with enableServiceLinks (the default)
// every service of the pod's namespace, as docker-link style variables.
func serviceEnv(ctx context.Context, objs Objects, pod *corev1.Pod) ([][2]string, error) {
	byName := map[string]*corev1.Service{}
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		list, err := objs.Services(ctx, pod.Namespace)
		if err != nil {
			return nil, fmt.Errorf("list services of %s: %w", pod.Namespace, err)
		}
		for _, s := range list {
			byName[s.Name] = s
		}
	}
	if pod.Namespace != corev1.NamespaceDefault || byName["kubernetes"] == nil {
		list, err := objs.Services(ctx, corev1.NamespaceDefault)
		if err != nil {
			return nil, fmt.Errorf("list services of %s: %w", corev1.NamespaceDefault, err)
		}
		for _, s := range list {
			if s.Name == "kubernetes" {
				byName[s.Name] = s
			}
		}
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	var out [][2]string
	for _, n := range names {
		out = append(out, linkVars(byName[n])...)
	}
	return out, nil
}

// linkVars are one service's variables (none for headless services).
func linkVars(s *corev1.Service) [][2]string {
	ip := s.Spec.ClusterIP
	if ip == "" || ip == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 {
		return nil
	}
	prefix := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_"))
	var out [][2]string
	add := func(k, v string) { out = append(out, [2]string{k, v}) }
	add(prefix+"_SERVICE_HOST", ip)
	add(prefix+"_SERVICE_PORT", strconv.Itoa(int(s.Spec.Ports[0].Port)))
	for _, p := range s.Spec.Ports {
		if p.Name != "" {
			add(prefix+"_SERVICE_PORT_"+strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_")), strconv.Itoa(int(p.Port)))
		}
	}
	first := s.Spec.Ports[0]
	proto := strings.ToLower(string(orTCP(first.Protocol)))
	add(prefix+"_PORT", fmt.Sprintf("%s://%s:%d", proto, hostPort(ip), first.Port))
	for _, p := range s.Spec.Ports {
		pr := orTCP(p.Protocol)
		base := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(string(pr)))
		add(base, fmt.Sprintf("%s://%s:%d", strings.ToLower(string(pr)), hostPort(ip), p.Port))
		add(base+"_PROTO", strings.ToLower(string(pr)))
		add(base+"_PORT", strconv.Itoa(int(p.Port)))
		add(base+"_ADDR", ip)
	}
	return out
}

func orTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// hostPort brackets IPv6 addresses for URLs.
func hostPort(ip string) string {
	if strings.Contains(ip, ":") {
		return "[" + ip + "]"
	}
	return ip
}
