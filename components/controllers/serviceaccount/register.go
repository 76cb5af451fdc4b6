package serviceaccount

import "github.com/kubelab/kubelab/components/controllermanager"

func init() { controllermanager.Register("serviceaccount", New) }
