package controllermanager

import (
	"fmt"
	"sync"

	"github.com/kubelab/kubelab/components/controllers"
)

// table maps --controllers names (upstream's) to constructors. Controller
// packages add themselves with Register from their init, like database/sql
// drivers, so that this package never imports them: a controller's own
// tests can then run a control plane without an import cycle. Binaries
// import components/controllermanager/all to get every controller.
var (
	tableMu sync.RWMutex
	table   = map[string]controllers.InitFunc{}
)

// Register makes a controller available under name. Registering a name
// twice panics, as it is a programming error.
func Register(name string, fn controllers.InitFunc) {
	tableMu.Lock()
	defer tableMu.Unlock()
	if _, dup := table[name]; dup {
		panic(fmt.Sprintf("controller %q registered twice", name))
	}
	table[name] = fn
}

func lookup(name string) controllers.InitFunc {
	tableMu.RLock()
	defer tableMu.RUnlock()
	return table[name]
}
