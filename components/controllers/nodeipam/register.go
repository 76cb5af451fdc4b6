package nodeipam

import "github.com/kubelab/kubelab/components/controllermanager"

func init() { controllermanager.Register("nodeipam", New) }
