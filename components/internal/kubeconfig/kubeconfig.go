// Package kubeconfig writes the kubeconfig files through which kubectl,
// client-go and the e2e suite reach a kubelab cluster, and merges them into a
// user's existing kubeconfig the way kind does: entries of the same names are
// replaced, all others are kept.
//
// Files are written through k8s.io/client-go/tools/clientcmd, replaced
// atomically (write a temporary file, rename it) with mode 0600, and guarded
// by the "<path>.lock" file that kubectl and kind also take, so a concurrent
// kubectl never reads half a file and concurrent edits are not lost.
package kubeconfig

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/homedir"
)

// Cluster is everything one kubeconfig entry needs: a cluster, a user and a
// context joining them. The credentials are embedded as data, never as paths,
// so the file stays valid wherever it is copied.
type Cluster struct {
	// Context names the context (for example "kubelab-local"). Required.
	Context string
	// Name names the cluster entry; empty means Context.
	Name string
	// User names the user entry; empty means Context.
	User string
	// Server is the API server URL ("https://127.0.0.1:6443"). Required.
	Server string
	// CAData is the PEM CA bundle the server's certificate is verified with.
	CAData []byte
	// ClientCertData and ClientKeyData are the user's PEM client certificate
	// and key; empty when the user authenticates with Token instead.
	ClientCertData, ClientKeyData []byte
	// Token is an optional bearer token for the user.
	Token string
	// Namespace is the context's default namespace; empty means "default".
	Namespace string
}

// ClusterName returns the name of the cluster entry: Name, else Context.
func (c Cluster) ClusterName() string {
	if c.Name != "" {
		return c.Name
	}
	return c.Context
}

// UserName returns the name of the user entry: User, else Context.
func (c Cluster) UserName() string {
	if c.User != "" {
		return c.User
	}
	return c.Context
}

func (c Cluster) validate() error {
	if c.Context == "" {
		return errors.New("kubeconfig entry has no context name")
	}
	if c.Server == "" {
		return fmt.Errorf("kubeconfig context %q has no server", c.Context)
	}
	return nil
}

// Config returns a kubeconfig holding only c, with c.Context as its current
// context.
func Config(c Cluster) (*clientcmdapi.Config, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	cfg := clientcmdapi.NewConfig()
	addEntries(cfg, c)
	cfg.CurrentContext = c.Context
	return cfg, nil
}

// Bytes returns the YAML of Config(c), as `kubelab get kubeconfig` prints it.
func Bytes(c Cluster) ([]byte, error) {
	cfg, err := Config(c)
	if err != nil {
		return nil, err
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return nil, fmt.Errorf("encode kubeconfig %q: %w", c.Context, err)
	}
	return data, nil
}

// RESTConfig returns the client-go configuration c describes, for in-process
// clients (tests, `kubelab local` waiting for readiness).
func RESTConfig(c Cluster) (*rest.Config, error) {
	cfg, err := Config(c)
	if err != nil {
		return nil, err
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("build client config for %q: %w", c.Context, err)
	}
	return rc, nil
}

// Write writes a kubeconfig holding only c to path, replacing any file there,
// with mode 0600 and parent directories created as needed.
func Write(path string, c Cluster) error {
	data, err := Bytes(c)
	if err != nil {
		return err
	}
	return withLock(path, func(target string) error {
		if err := writeFileAtomic(target, data); err != nil {
			return fmt.Errorf("write kubeconfig %s: %w", path, err)
		}
		return nil
	})
}

// DefaultPath returns the kubeconfig that kubectl writes to: the first entry
// of $KUBECONFIG, else ~/.kube/config.
func DefaultPath() string {
	for _, p := range filepath.SplitList(os.Getenv(clientcmd.RecommendedConfigPathEnvVar)) {
		if p != "" {
			return p
		}
	}
	return filepath.Join(homedir.HomeDir(), clientcmd.RecommendedHomeDir, clientcmd.RecommendedFileName)
}

// addEntries puts c's cluster, user and context into cfg, replacing entries
// of the same names.
func addEntries(cfg *clientcmdapi.Config, c Cluster) {
	cluster := clientcmdapi.NewCluster()
	cluster.Server = c.Server
	cluster.CertificateAuthorityData = c.CAData
	cfg.Clusters[c.ClusterName()] = cluster

	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData = c.ClientCertData
	user.ClientKeyData = c.ClientKeyData
	user.Token = c.Token
	cfg.AuthInfos[c.UserName()] = user

	ctx := clientcmdapi.NewContext()
	ctx.Cluster = c.ClusterName()
	ctx.AuthInfo = c.UserName()
	ctx.Namespace = c.Namespace
	cfg.Contexts[c.Context] = ctx
}
