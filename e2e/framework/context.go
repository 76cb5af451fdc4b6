// Package framework is the small harness of kubelab's end-to-end suite:
// where the cluster and the test image are (TestContext, from flags and
// the environment), a namespace per spec that is created and deleted
// (Framework), polling waits with deadlines, pod, log and exec helpers,
// and a dump of a failed spec's namespace (pods, events, container logs)
// to GinkgoWriter and the artifacts directory. It uses client-go only, so
// the suite runs unchanged against any conformant cluster.
package framework

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// DefaultTestImage is the test workload image (cmd/testapp) a kubelab
// cluster's nodes hold; --test-image or $E2E_TEST_IMAGE override it.
const DefaultTestImage = "kubelab/testapp:dev"

// Context is what the suite needs to know about the cluster under test.
type Context struct {
	// Kubeconfig is the kubeconfig file ("" uses $KUBECONFIG, then
	// ~/.kube/config, as kubectl does); KubeContext picks a context in it.
	Kubeconfig, KubeContext string
	// TestImage is the image of the test workload (subcommands
	// serve-hostname, netexec, exit, crash, sleep, write-file, env, exists,
	// cat, pause, and the clients http-get, udp-request, connect; no shell)
	// and TestImagePullPolicy how pods pull it.
	TestImage           string
	TestImagePullPolicy string
	// ArtifactsDir receives the dump of failed specs.
	ArtifactsDir string
	// PodStartTimeout bounds waits for a pod to start or finish;
	// NamespaceDeleteTimeout bounds the wait for a spec's namespace to go.
	PodStartTimeout, NamespaceDeleteTimeout time.Duration
	// Poll is the interval of polling waits.
	Poll time.Duration

	// Config and Client are set by Setup.
	Config *rest.Config
	Client kubernetes.Interface
}

// TestContext is the suite's context, filled by RegisterFlags and Setup.
var TestContext = Context{}

// RegisterFlags adds the suite's flags to fs with defaults from the
// environment: $KUBECONFIG, $E2E_TEST_IMAGE, $E2E_TEST_IMAGE_PULL_POLICY,
// $ARTIFACTS.
func RegisterFlags(fs *flag.FlagSet) {
	c := &TestContext
	fs.StringVar(&c.Kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster under test (default $KUBECONFIG, then ~/.kube/config)")
	fs.StringVar(&c.KubeContext, "context", "", "kubeconfig context to use (default the current context)")
	fs.StringVar(&c.TestImage, "test-image", envOr("E2E_TEST_IMAGE", DefaultTestImage), "test workload image (cmd/testapp) present on every node ($E2E_TEST_IMAGE)")
	fs.StringVar(&c.TestImagePullPolicy, "test-image-pull-policy", envOr("E2E_TEST_IMAGE_PULL_POLICY", "IfNotPresent"), "imagePullPolicy of test pods ($E2E_TEST_IMAGE_PULL_POLICY)")
	fs.StringVar(&c.ArtifactsDir, "artifacts-dir", envOr("ARTIFACTS", defaultArtifactsDir()), "where failed specs' namespace dumps go ($ARTIFACTS)")
	fs.DurationVar(&c.PodStartTimeout, "pod-start-timeout", 2*time.Minute, "how long a pod may take to start or finish")
	fs.DurationVar(&c.NamespaceDeleteTimeout, "namespace-delete-timeout", 2*time.Minute, "how long a spec's namespace may take to be deleted")
	fs.DurationVar(&c.Poll, "poll-interval", 250*time.Millisecond, "interval of polling waits")
}

// defaultArtifactsDir is _artifacts at the root of the module the suite
// runs in (go test and ginkgo run it in its package directory), or
// _artifacts in the working directory outside a module.
func defaultArtifactsDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return "_artifacts"
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return filepath.Join(d, "_artifacts")
		}
		if filepath.Dir(d) == d {
			return "_artifacts"
		}
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Setup loads the kubeconfig (as kubectl does) and builds the client.
func (c *Context) Setup() error {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if c.Kubeconfig != "" {
		rules.ExplicitPath = c.Kubeconfig
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: c.KubeContext}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides).ClientConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig %q: %w", c.Kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	cfg.UserAgent = "kubelab-e2e"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("client for %s: %w", cfg.Host, err)
	}
	c.Config, c.Client = cfg, client
	return nil
}
