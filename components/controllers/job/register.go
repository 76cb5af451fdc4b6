package job

import "github.com/kubelab/kubelab/components/controllermanager"

func init() { controllermanager.Register("job", New) }
