package endpoints

import "github.com/kubelab/kubelab/components/controllermanager"

func init() { controllermanager.Register("endpoint", New) }
