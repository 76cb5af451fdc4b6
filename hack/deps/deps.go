// Package deps pins imports while the tree is being built. Temporary.
package deps

import (
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/spf13/cobra"
	_ "go.etcd.io/etcd/client/v3"
	_ "go.etcd.io/etcd/server/v3/embed"
	_ "gopkg.in/evanphx/json-patch.v4"
	_ "k8s.io/api/core/v1"
	_ "k8s.io/apimachinery/pkg/util/managedfields"
	_ "k8s.io/apimachinery/pkg/util/strategicpatch"
	_ "k8s.io/client-go/applyconfigurations"
	_ "k8s.io/client-go/kubernetes"
	_ "k8s.io/client-go/kubernetes/scheme"
	_ "k8s.io/client-go/tools/clientcmd"
	_ "k8s.io/client-go/informers"
	_ "k8s.io/kube-openapi/pkg/handler"
	_ "k8s.io/kube-openapi/pkg/handler3"
	_ "k8s.io/kube-openapi/pkg/builder"
	_ "k8s.io/kube-openapi/pkg/builder3"
)
