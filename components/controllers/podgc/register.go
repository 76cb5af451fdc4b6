package podgc

import "github.com/kubelab/kubelab/components/controllermanager"

func init() { controllermanager.Register("podgc", New) }
