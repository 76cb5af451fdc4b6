package daemonset

import "github.com/kubelab/kubelab/components/controllermanager"

func init() { controllermanager.Register("daemonset", New) }
