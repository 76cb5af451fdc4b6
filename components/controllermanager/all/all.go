// Package all links every kubelab controller into a binary: importing it
// registers them all with the controller-manager.
package all

import (
	// Each controller registers itself in its init.
	_ "github.com/kubelab/kubelab/components/controllers/daemonset"
	_ "github.com/kubelab/kubelab/components/controllers/deployment"
	_ "github.com/kubelab/kubelab/components/controllers/endpoints"
	_ "github.com/kubelab/kubelab/components/controllers/endpointslice"
	_ "github.com/kubelab/kubelab/components/controllers/garbagecollector"
	_ "github.com/kubelab/kubelab/components/controllers/job"
	_ "github.com/kubelab/kubelab/components/controllers/namespace"
	_ "github.com/kubelab/kubelab/components/controllers/nodeipam"
	_ "github.com/kubelab/kubelab/components/controllers/nodelifecycle"
	_ "github.com/kubelab/kubelab/components/controllers/podgc"
	_ "github.com/kubelab/kubelab/components/controllers/replicaset"
	_ "github.com/kubelab/kubelab/components/controllers/replicationcontroller"
	_ "github.com/kubelab/kubelab/components/controllers/serviceaccount"
)
