package endpointslice

import "github.com/kubelab/kubelab/components/controllermanager"

func init() { controllermanager.Register("endpointslice", New) }
