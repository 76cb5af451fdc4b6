package controllermanager

import (
	"github.com/kubelab/kubelab/components/controllers"
	"github.com/kubelab/kubelab/components/controllers/garbagecollector"
	"github.com/kubelab/kubelab/components/controllers/namespace"
	"github.com/kubelab/kubelab/components/controllers/serviceaccount"
)

// table maps --controllers names to constructors.
var table = map[string]controllers.InitFunc{
	"garbagecollector": garbagecollector.New,
	"namespace":        namespace.New,
	"serviceaccount":   serviceaccount.New,
}
