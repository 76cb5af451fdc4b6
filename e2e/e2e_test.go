//go:build e2e

// Package e2e is kubelab's end-to-end suite (Ginkgo v2 + Gomega, client-go
// only): it runs against the cluster of --kubeconfig/$KUBECONFIG, kubelab's
// or any conformant one, whose nodes hold the test image (--test-image,
// $E2E_TEST_IMAGE). It builds only with the e2e tag, so `go test ./...`
// never needs a cluster:
//
//	go tool ginkgo --tags e2e ./e2e -- --test-image kubelab/testapp:<tag>
//	make e2e   # creates a kubelab cluster, runs this, deletes it
package e2e

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/e2e/framework"
)

func TestMain(m *testing.M) {
	framework.RegisterFlags(flag.CommandLine)
	flag.Parse()
	os.Exit(m.Run())
}

func TestE2E(t *testing.T) {
	gomega.RegisterFailHandler(ginkgo.Fail)
	ginkgo.RunSpecs(t, "kubelab e2e suite")
}

// The suite checks once, in each parallel process, that the cluster
// answers and that it has a Ready node to run pods on.
var _ = ginkgo.BeforeSuite(func(ctx ginkgo.SpecContext) {
	framework.ExpectNoError(framework.TestContext.Setup())
	c := framework.TestContext.Client
	v, err := c.Discovery().ServerVersion()
	framework.ExpectNoError(err, "reach the API server at %s", framework.TestContext.Config.Host)
	nodes, err := c.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	framework.ExpectNoError(err, "list nodes")
	ready := 0
	for _, n := range nodes.Items {
		for _, cond := range n.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue {
				ready++
			}
		}
	}
	framework.Logf("cluster %s (server %s): %d nodes, %d Ready; test image %s", framework.TestContext.Config.Host, v.GitVersion, len(nodes.Items), ready, framework.TestContext.TestImage)
	if ready == 0 {
		ginkgo.Fail(fmt.Sprintf("no Ready node among %d: the cluster cannot run the suite's pods", len(nodes.Items)))
	}
})
