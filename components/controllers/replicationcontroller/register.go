package replicationcontroller

import "github.com/kubelab/kubelab/components/controllermanager"

func init() { controllermanager.Register("replicationcontroller", New) }
