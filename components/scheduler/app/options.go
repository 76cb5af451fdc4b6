// Package app is the kube-scheduler command: options and upstream-named
// flags over the scheduler library.
package app

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubelab/kubelab/components/scheduler"
)

// Options are the kube-scheduler flags.
type Options struct {
	// Kubeconfig and Master locate the API server; with neither, the
	// in-cluster configuration is used.
	Kubeconfig, Master string
	// KubeAPIQPS, KubeAPIBurst and KubeAPIContentType tune the client.
	KubeAPIQPS         float32
	KubeAPIBurst       int
	KubeAPIContentType string

	// LeaderElect and the LeaderElect* timings and Lease name configure
	// leader election.
	LeaderElect                  bool
	LeaderElectLeaseDuration     time.Duration
	LeaderElectRenewDeadline     time.Duration
	LeaderElectRetryPeriod       time.Duration
	LeaderElectResourceLock      string
	LeaderElectResourceName      string
	LeaderElectResourceNamespace string
	// SchedulerName, PercentageOfNodesToScore, Parallelism and the backoffs
	// are the scheduler's options (see scheduler.Options).
	SchedulerName                    string
	PercentageOfNodesToScore         int32
	Parallelism                      int
	PodInitialBackoff, PodMaxBackoff time.Duration
}

// NewOptions returns upstream's defaults.
func NewOptions() *Options {
	return &Options{
		KubeAPIQPS:                   50,
		KubeAPIBurst:                 100,
		KubeAPIContentType:           "application/vnd.kubernetes.protobuf",
		LeaderElect:                  true,
		LeaderElectLeaseDuration:     15 * time.Second,
		LeaderElectRenewDeadline:     10 * time.Second,
		LeaderElectRetryPeriod:       2 * time.Second,
		LeaderElectResourceLock:      "leases",
		LeaderElectResourceName:      "kube-scheduler",
		LeaderElectResourceNamespace: "kube-system",
		SchedulerName:                scheduler.DefaultSchedulerName,
		PodInitialBackoff:            time.Second,
		PodMaxBackoff:                10 * time.Second,
	}
}

// AddFlags registers the options as upstream-named flags.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Path to a kubeconfig file with the API server's location and credentials.")
	fs.StringVar(&o.Master, "master", o.Master, "The address of the Kubernetes API server (overrides any value in kubeconfig).")
	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "QPS to use while talking with the API server.")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "Burst to use while talking with the API server.")
	fs.StringVar(&o.KubeAPIContentType, "kube-api-content-type", o.KubeAPIContentType, "Content type of requests sent to the API server.")
	fs.BoolVar(&o.LeaderElect, "leader-elect", o.LeaderElect, "Start a leader election client and gain leadership before scheduling; enable when running replicated schedulers.")
	fs.DurationVar(&o.LeaderElectLeaseDuration, "leader-elect-lease-duration", o.LeaderElectLeaseDuration, "How long non-leader candidates wait after observing a renewal before attempting to acquire leadership.")
	fs.DurationVar(&o.LeaderElectRenewDeadline, "leader-elect-renew-deadline", o.LeaderElectRenewDeadline, "How long the leader retries refreshing leadership before giving it up; less than the lease duration.")
	fs.DurationVar(&o.LeaderElectRetryPeriod, "leader-elect-retry-period", o.LeaderElectRetryPeriod, "How long clients wait between attempts to acquire and renew leadership.")
	fs.StringVar(&o.LeaderElectResourceLock, "leader-elect-resource-lock", o.LeaderElectResourceLock, "The type of resource object used for locking during leader election; only 'leases' is supported.")
	fs.StringVar(&o.LeaderElectResourceName, "leader-elect-resource-name", o.LeaderElectResourceName, "The name of the Lease object used for leader election.")
	fs.StringVar(&o.LeaderElectResourceNamespace, "leader-elect-resource-namespace", o.LeaderElectResourceNamespace, "The namespace of the Lease object used for leader election.")
	fs.StringVar(&o.SchedulerName, "scheduler-name", o.SchedulerName, "Schedule pods whose spec.schedulerName is this.")
	fs.Int32Var(&o.PercentageOfNodesToScore, "percentage-of-nodes-to-score", o.PercentageOfNodesToScore, "Percentage of nodes to find feasible before scoring (0 adapts to the cluster size).")
	fs.IntVar(&o.Parallelism, "parallelism", o.Parallelism, "Goroutines filtering and scoring nodes (0 is GOMAXPROCS).")
	fs.DurationVar(&o.PodInitialBackoff, "pod-initial-backoff", o.PodInitialBackoff, "Backoff of a pod after its first failed attempt; it doubles per attempt.")
	fs.DurationVar(&o.PodMaxBackoff, "pod-max-backoff", o.PodMaxBackoff, "The longest backoff of a pod.")
}

// Validate checks the options.
func (o *Options) Validate() error {
	if o.PercentageOfNodesToScore < 0 || o.PercentageOfNodesToScore > 100 {
		return fmt.Errorf("--percentage-of-nodes-to-score %d is not within 0..100", o.PercentageOfNodesToScore)
	}
	if o.PodInitialBackoff <= 0 || o.PodMaxBackoff < o.PodInitialBackoff {
		return fmt.Errorf("--pod-initial-backoff %v and --pod-max-backoff %v: want 0 < initial <= max", o.PodInitialBackoff, o.PodMaxBackoff)
	}
	if o.LeaderElect && o.LeaderElectResourceLock != "leases" {
		return fmt.Errorf("--leader-elect-resource-lock %q: only \"leases\" is supported", o.LeaderElectResourceLock)
	}
	if o.LeaderElect && (o.LeaderElectLeaseDuration <= o.LeaderElectRenewDeadline || o.LeaderElectRenewDeadline <= o.LeaderElectRetryPeriod) {
		return fmt.Errorf("leader election: want --leader-elect-lease-duration > --leader-elect-renew-deadline > --leader-elect-retry-period")
	}
	return nil
}

// RESTConfig builds the client configuration.
func (o *Options) RESTConfig() (*rest.Config, error) {
	cfg, err := clientcmd.BuildConfigFromFlags(o.Master, o.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load client configuration: %w", err)
	}
	cfg.QPS, cfg.Burst = o.KubeAPIQPS, o.KubeAPIBurst
	cfg.ContentType = o.KubeAPIContentType
	cfg.AcceptContentTypes = o.KubeAPIContentType + ",application/json"
	cfg.UserAgent = rest.DefaultKubernetesUserAgent() + "/kube-scheduler"
	return cfg, nil
}

// SchedulerOptions converts the flags to library options.
func (o *Options) SchedulerOptions() scheduler.Options {
	so := scheduler.Options{
		SchedulerName:            o.SchedulerName,
		PercentageOfNodesToScore: o.PercentageOfNodesToScore,
		Parallelism:              o.Parallelism,
		PodInitialBackoff:        o.PodInitialBackoff,
		PodMaxBackoff:            o.PodMaxBackoff,
	}
	if o.LeaderElect {
		so.LeaderElection = &scheduler.LeaderElection{
			Namespace:     o.LeaderElectResourceNamespace,
			Name:          o.LeaderElectResourceName,
			LeaseDuration: o.LeaderElectLeaseDuration,
			RenewDeadline: o.LeaderElectRenewDeadline,
			RetryPeriod:   o.LeaderElectRetryPeriod,
		}
	}
	return so
}
