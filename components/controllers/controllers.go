// Package controllers holds what every kubelab controller is built from.
// Each controller lives in its own package below this one, on client-go
// informers and rate-limited workqueues with a level-triggered sync(key)
// (NewQueue, RunWorkers and StartWorkers here are that skeleton);
// the controller-manager (components/controllermanager) runs them by name.
package controllers

import (
	"context"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/record"
)

// Context is what a controller is built from. The informer factories are
// shared: controllers register the informers they need in their
// constructor, and the controller-manager starts the factories after all
// controllers are built.
type Context struct {
	// Config is the client configuration, for controllers that need clients
	// of their own (the garbage collector's dynamic client).
	Config *rest.Config
	// Client is a typed clientset.
	Client kubernetes.Interface
	// Informers is the shared typed informer factory.
	Informers informers.SharedInformerFactory
	// Metadata and MetadataInformers serve the metadata-only view the
	// garbage collector uses.
	Metadata          metadata.Interface
	MetadataInformers metadatainformer.SharedInformerFactory
	// Recorder returns an event recorder reporting as component.
	Recorder func(component string) record.EventRecorder
	// Options are the controller-manager's tuning flags.
	Options Options
}

// Options are the controller flags that tune behaviour.
type Options struct {
	// NodeMonitorGracePeriod is how long a node may go without a heartbeat
	// before it is marked NotReady/Unknown (upstream default 40s).
	NodeMonitorGracePeriod time.Duration
	// NodeMonitorPeriod is how often node health is checked (5s).
	NodeMonitorPeriod time.Duration
	// ClusterCIDR is the pod network node IPAM carves podCIDRs from.
	ClusterCIDR string
	// NodeCIDRMaskSize is the prefix length of each node's podCIDR (24).
	NodeCIDRMaskSize int
	// TerminatedPodGCThreshold is how many terminated pods pod GC keeps (12500).
	TerminatedPodGCThreshold int
	// ConcurrentSyncs is the worker count for each controller (5).
	ConcurrentSyncs int
}

// DefaultOptions returns upstream's defaults.
func DefaultOptions() Options {
	return Options{
		NodeMonitorGracePeriod:   40 * time.Second,
		NodeMonitorPeriod:        5 * time.Second,
		ClusterCIDR:              "10.244.0.0/16",
		NodeCIDRMaskSize:         24,
		TerminatedPodGCThreshold: 12500,
		ConcurrentSyncs:          5,
	}
}

// Controller runs until ctx ends.
type Controller interface {
	// Run starts workers and blocks until ctx is done. The informer
	// factories are started by the caller; Run waits for the caches it uses.
	Run(ctx context.Context, workers int)
}

// InitFunc builds a controller from the shared context.
type InitFunc func(ctx context.Context, c *Context) (Controller, error)
