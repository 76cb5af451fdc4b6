package integration

// Every controller registers itself; the whole control plane runs them all.
import _ "github.com/kubelab/kubelab/components/controllermanager/all"
