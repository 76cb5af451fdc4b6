package namespace

import "github.com/kubelab/kubelab/components/controllermanager"

func init() { controllermanager.Register("namespace", New) }
