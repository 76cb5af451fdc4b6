package app

import (
	"runtime"

	"k8s.io/apimachinery/pkg/version"
)

// GitVersion is the Kubernetes version kubelab reports, set at build time
// with -ldflags "-X .../app.GitVersion=...". It follows the k8s.io/api
// version kubelab serves.
var GitVersion = "v1.37.2-kubelab"

// Version returns the /version document.
func Version() version.Info {
	return version.Info{
		Major: "1", Minor: "37", GitVersion: GitVersion, GitTreeState: "clean",
		GoVersion: runtime.Version(), Compiler: runtime.Compiler,
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
}
