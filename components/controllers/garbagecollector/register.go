package garbagecollector

import "github.com/kubelab/kubelab/components/controllermanager"

func init() { controllermanager.Register("garbagecollector", New) }
