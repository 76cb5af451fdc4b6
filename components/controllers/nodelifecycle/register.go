package nodelifecycle

import "github.com/kubelab/kubelab/components/controllermanager"

func init() { controllermanager.Register("nodelifecycle", New) }
