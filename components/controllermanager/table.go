package controllermanager

import (
	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/daemonset"
	"github.com/kubelab/kubelab/components/controllers/deployment"
	"github.com/kubelab/kubelab/components/controllers/endpoints"
	"github.com/kubelab/kubelab/components/controllers/endpointslice"
	"github.com/kubelab/kubelab/components/controllers/garbagecollector"
	"github.com/kubelab/kubelab/components/controllers/job"
	"github.com/kubelab/kubelab/components/controllers/namespace"
	"github.com/kubelab/kubelab/components/controllers/nodeipam"
	"github.com/kubelab/kubelab/components/controllers/nodelifecycle"
	"github.com/kubelab/kubelab/components/controllers/podgc"
	"github.com/kubelab/kubelab/components/controllers/replicaset"
	"github.com/kubelab/kubelab/components/controllers/replicationcontroller"
	"github.com/kubelab/kubelab/components/controllers/serviceaccount"
)

// table maps --controllers names (upstream's) to constructors.
var table = map[string]controllers.InitFunc{
	"daemonset":             daemonset.New,
	"deployment":            deployment.New,
	"endpoint":              endpoints.New,
	"endpointslice":         endpointslice.New,
	"garbagecollector":      garbagecollector.New,
	"job":                   job.New,
	"namespace":             namespace.New,
	"nodeipam":              nodeipam.New,
	"nodelifecycle":         nodelifecycle.New,
	"podgc":                 podgc.New,
	"replicaset":            replicaset.New,
	"replicationcontroller": replicationcontroller.New,
	"serviceaccount":        serviceaccount.New,
}
