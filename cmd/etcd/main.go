// Command etcd is upstream etcd (go.etcd.io/etcd/server/v3 etcdmain) built
// from the version pinned in kubelab's go.mod, for the etcd image.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
