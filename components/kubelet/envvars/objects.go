package envvars

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
)

// APIObjects reads config maps and secrets from the API server, and
// services from a lister when one is set (from the API server otherwise).
type APIObjects struct {
	Client        kubernetes.Interface
	ServiceLister corelisters.ServiceLister
}

var _ Objects = (*APIObjects)(nil)

// ConfigMap gets a config map.
func (o *APIObjects) ConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	return o.Client.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
}

// Secret gets a secret.
func (o *APIObjects) Secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return o.Client.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
}

// Services lists the services of namespace.
func (o *APIObjects) Services(ctx context.Context, namespace string) ([]*corev1.Service, error) {
	if o.ServiceLister != nil {
		return o.ServiceLister.Services(namespace).List(labels.Everything())
	}
	list, err := o.Client.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := make([]*corev1.Service, len(list.Items))
	for i := range list.Items {
		out[i] = &list.Items[i]
	}
	return out, nil
}
