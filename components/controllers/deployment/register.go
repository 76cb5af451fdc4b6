package deployment

import "github.com/kubelab/kubelab/components/controllermanager"

func init() { controllermanager.Register("deployment", New) }
