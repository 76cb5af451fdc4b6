package kubeletproxy

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// location is the kubelet URL serving subresource sub of pod with the
// client's query q, as upstream's LogLocation, ExecLocation,
// AttachLocation and PortForwardLocation build it.
func (p *Proxy) location(ctx context.Context, pod *corev1.Pod, sub string, q url.Values) (*url.URL, error) {
	if pod.Spec.NodeName == "" {
		return nil, apierrors.NewBadRequest(fmt.Sprintf("pod %s does not have a host assigned", pod.Name))
	}
	host, err := p.kubeletHost(ctx, pod.Spec.NodeName)
	if err != nil {
		return nil, err
	}
	u := &url.URL{Scheme: "https", Host: host}
	params := url.Values{}
	switch sub {
	case "log":
		c, err := container(pod, q.Get("container"))
		if err != nil {
			return nil, err
		}
		u.Path = fmt.Sprintf("/containerLogs/%s/%s/%s", pod.Namespace, pod.Name, c)
		for _, k := range []string{"follow", "previous", "timestamps", "tailLines", "limitBytes", "sinceSeconds", "sinceTime"} {
			if v := q.Get(k); v != "" {
				params.Set(k, v)
			}
		}
	case "exec", "attach":
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			return nil, apierrors.NewBadRequest(fmt.Sprintf("cannot %s into a container in a completed pod; current phase is %s", sub, pod.Status.Phase))
		}
		c, err := container(pod, q.Get("container"))
		if err != nil {
			return nil, err
		}
		u.Path = fmt.Sprintf("/%s/%s/%s/%s", sub, pod.Namespace, pod.Name, c)
		if sub == "exec" {
			cmd := q["command"]
			if len(cmd) == 0 {
				return nil, apierrors.NewBadRequest("you must specify at least one command for the container")
			}
			params["command"] = cmd
		}
		for client, kubelet := range map[string]string{"stdin": "input", "stdout": "output", "stderr": "error", "tty": "tty"} {
			if b, _ := strconv.ParseBool(q.Get(client)); b {
				params.Set(kubelet, "1")
			}
		}
	case "portforward":
		u.Path = fmt.Sprintf("/portForward/%s/%s", pod.Namespace, pod.Name)
		if ports := q["ports"]; len(ports) > 0 {
			params["port"] = ports
		}
	default:
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods/" + sub}, pod.Name)
	}
	u.RawQuery = params.Encode()
	return u, nil
}

// kubeletHost is host:port of the kubelet of node.
func (p *Proxy) kubeletHost(ctx context.Context, nodeName string) (string, error) {
	obj, err := p.cfg.Nodes.Get(ctx, "", nodeName)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return "", apierrors.NewBadRequest(fmt.Sprintf("node %s of the pod not found", nodeName))
		}
		return "", err
	}
	node, ok := obj.(*corev1.Node)
	if !ok {
		return "", apierrors.NewInternalError(fmt.Errorf("node %s: not a node: %T", nodeName, obj))
	}
	port := node.Status.DaemonEndpoints.KubeletEndpoint.Port
	if port <= 0 {
		port = 10250
	}
	for _, t := range p.cfg.PreferredAddressTypes {
		for _, a := range node.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return net.JoinHostPort(a.Address, strconv.Itoa(int(port))), nil
			}
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("node %s has no address of the types %v", nodeName, p.cfg.PreferredAddressTypes))
}

// container picks the container a request names: the pod's only one
// when none is named, as upstream.
func container(pod *corev1.Pod, name string) (string, error) {
	if name == "" {
		if len(pod.Spec.Containers) == 1 {
			return pod.Spec.Containers[0].Name, nil
		}
		msg := fmt.Sprintf("a container name must be specified for pod %s, choose one of: %s", pod.Name, names(pod.Spec.Containers))
		if len(pod.Spec.InitContainers) > 0 {
			msg += " or one of the init containers: " + names(pod.Spec.InitContainers)
		}
		return "", apierrors.NewBadRequest(msg)
	}
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for _, c := range list {
			if c.Name == name {
				return name, nil
			}
		}
	}
	for _, c := range pod.Spec.EphemeralContainers {
		if c.Name == name {
			return name, nil
		}
	}
	return "", apierrors.NewBadRequest(fmt.Sprintf("container %s is not valid for pod %s", name, pod.Name))
}

func names(list []corev1.Container) string {
	out := make([]string, len(list))
	for i, c := range list {
		out[i] = c.Name
	}
	return "[" + strings.Join(out, " ") + "]"
}
