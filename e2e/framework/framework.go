package framework

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	"github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// Framework gives each spec of a container node its own namespace,
// created before the spec and deleted (and waited for) after it; a failed
// spec's namespace is dumped first. Create it with New at the top of a
// Describe, as upstream's framework.NewDefaultFramework.
type Framework struct {
	// BaseName prefixes the namespaces' generated names.
	BaseName string
	// Client and Config reach the cluster under test.
	Client kubernetes.Interface
	Config *rest.Config
	// Namespace is the current spec's namespace.
	Namespace *corev1.Namespace
}

// New returns a Framework whose BeforeEach creates the namespace
// e2e-<baseName>-xxxxx and registers its cleanup.
func New(baseName string) *Framework {
	f := &Framework{BaseName: baseName}
	ginkgo.BeforeEach(f.beforeEach, ginkgo.NodeTimeout(time.Minute))
	return f
}

// NS is the name of the current spec's namespace.
func (f *Framework) NS() string { return f.Namespace.Name }

func (f *Framework) beforeEach(ctx ginkgo.SpecContext) {
	gomega.Expect(TestContext.Client).NotTo(gomega.BeNil(), "framework.TestContext.Setup was not called")
	f.Client, f.Config = TestContext.Client, TestContext.Config
	ns, err := f.Client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "e2e-" + f.BaseName + "-",
			Labels:       map[string]string{"e2e.kubelab.io/suite": "e2e", "e2e.kubelab.io/base": f.BaseName},
		},
	}, metav1.CreateOptions{})
	ExpectNoError(err, "create the spec's namespace")
	f.Namespace = ns
	Logf("created namespace %s", ns.Name)
	// Cleanups run last-in first-out: the dump sees the namespace intact.
	ginkgo.DeferCleanup(f.deleteNamespace, ns.Name, ginkgo.NodeTimeout(TestContext.NamespaceDeleteTimeout+30*time.Second))
	ginkgo.DeferCleanup(f.dumpIfFailed, ns.Name, ginkgo.NodeTimeout(time.Minute))
}

func (f *Framework) dumpIfFailed(ctx ginkgo.SpecContext, ns string) {
	if !ginkgo.CurrentSpecReport().Failed() {
		return
	}
	DumpNamespace(ctx, f.Client, ns, SpecArtifactsDir())
}

// deleteNamespace deletes ns and waits until it is gone, so that a spec
// whose pods cannot be torn down fails instead of leaking them.
func (f *Framework) deleteNamespace(ctx ginkgo.SpecContext, ns string) {
	Logf("deleting namespace %s", ns)
	err := f.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	if apierrors.IsNotFound(err) {
		return
	}
	ExpectNoError(err, "delete namespace %s", ns)
	err = WaitFor(ctx, "namespace "+ns+" to be deleted", TestContext.NamespaceDeleteTimeout, func(ctx context.Context) (bool, string, error) {
		got, err := f.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, "", nil
		}
		if err != nil {
			return false, err.Error(), nil
		}
		return false, namespaceState(ctx, f.Client, got), nil
	})
	ExpectNoError(err)
}

// namespaceState says what keeps a namespace: its phase, conditions and
// the pods left in it.
func namespaceState(ctx context.Context, c kubernetes.Interface, ns *corev1.Namespace) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase %s", ns.Status.Phase)
	for _, cond := range ns.Status.Conditions {
		if cond.Status == corev1.ConditionTrue {
			fmt.Fprintf(&b, ", %s: %s", cond.Type, cond.Message)
		}
	}
	if pods, err := c.CoreV1().Pods(ns.Name).List(ctx, metav1.ListOptions{}); err == nil && len(pods.Items) > 0 {
		fmt.Fprintf(&b, "; %d pods left:", len(pods.Items))
		for i := range pods.Items {
			fmt.Fprintf(&b, " %s", PodSummary(&pods.Items[i]))
		}
	}
	return b.String()
}

// Logf writes a timestamped line to GinkgoWriter (shown for failed specs,
// and for all with -v).
func Logf(format string, args ...any) {
	fmt.Fprintf(ginkgo.GinkgoWriter, time.Now().Format("15:04:05.000")+" "+format+"\n", args...)
}

// ExpectNoError fails the spec when err is not nil; explain is a format
// string and its arguments.
func ExpectNoError(err error, explain ...any) {
	ginkgo.GinkgoHelper()
	gomega.Expect(err).NotTo(gomega.HaveOccurred(), explain...)
}

// Failf fails the spec with a formatted message.
func Failf(format string, args ...any) {
	ginkgo.GinkgoHelper()
	ginkgo.Fail(fmt.Sprintf(format, args...))
}
