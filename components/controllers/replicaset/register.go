package replicaset

import "github.com/kubelab/kubelab/components/controllermanager"

func init() { controllermanager.Register("replicaset", New) }
