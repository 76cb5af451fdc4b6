package app

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubelab/kubelab/components/apiserver/authn"
	"github.com/kubelab/kubelab/components/apiserver/authz"
	"github.com/kubelab/kubelab/components/apiserver/endpoints"
	"github.com/kubelab/kubelab/components/apiserver/openapi"
	"github.com/kubelab/kubelab/components/apiserver/registry"
	"github.com/kubelab/kubelab/components/apiserver/registry/apps"
	"github.com/kubelab/kubelab/components/apiserver/registry/batch"
	"github.com/kubelab/kubelab/components/apiserver/registry/coordination"
	"github.com/kubelab/kubelab/components/apiserver/registry/core"
	"github.com/kubelab/kubelab/components/apiserver/registry/discovery"
	"github.com/kubelab/kubelab/components/apiserver/registry/events"
	"github.com/kubelab/kubelab/components/apiserver/server"
	"github.com/kubelab/kubelab/components/apiserver/storage"
	"github.com/kubelab/kubelab/components/internal/pki"
)

// Resources returns every resource the API server serves.
func Resources() []*registry.Resource {
	var all []*registry.Resource
	for _, group := range [][]*registry.Resource{core.Resources(), apps.Resources(), batch.Resources(),
		coordination.Resources(), discovery.Resources(), events.Resources()} {
		all = append(all, group...)
	}
	return all
}

// APIServer is a running kube-apiserver.
type APIServer struct {
	opts    *Options
	etcd    *storage.Embedded
	client  *clientv3.Client
	storage *storage.Store
	server  *server.Server
	stores  map[string]*registry.Store
	// namespaces admits creates by namespace state.
	namespaces *namespaceLifecycle
	ready      chan struct{}
}

// New prepares an API server: it opens etcd and binds the listener, so a
// port in use fails here with a clear error.
func New(ctx context.Context, o *Options) (_ *APIServer, err error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	s := &APIServer{opts: o, ready: make(chan struct{}), stores: map[string]*registry.Store{}}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	if err := s.openEtcd(ctx); err != nil {
		return nil, err
	}
	s.storage = storage.New(s.client)

	lo, hi, _ := o.nodePortRange()
	alloc, err := core.NewServiceAllocator(s.storage, o.ServiceClusterIPRange, lo, hi)
	if err != nil {
		return nil, err
	}
	var stores []*registry.Store
	var lifecycle *namespaceLifecycle
	checkNamespace := func(ctx context.Context, ns string) error { return lifecycle.admit(ctx, ns) }
	for _, res := range Resources() {
		hooks := registry.Hooks{}
		if res.GroupVersion.Group == "" && res.Name == "services" {
			hooks = alloc.Hooks()
		}
		var checker registry.NamespaceChecker
		if res.Namespaced {
			checker = checkNamespace
		}
		st := registry.NewStore(res, s.storage, checker, hooks)
		if res.GroupVersion.Group == "" && res.Name == "namespaces" {
			lifecycle = newNamespaceLifecycle(st)
			s.namespaces = lifecycle
		}
		s.stores[res.GVR().String()] = st
		stores = append(stores, st)
		if err := s.storage.StartWatching(ctx, st.Prefix()); err != nil {
			return nil, fmt.Errorf("watch %s: %w", st.Prefix(), err)
		}
	}

	mux := http.NewServeMux()
	api := endpoints.New(stores)
	if err := s.connectKubelets(api); err != nil {
		return nil, err
	}
	mux.Handle("/api", api)
	mux.Handle("/api/", api)
	mux.Handle("/apis", api)
	mux.Handle("/apis/", api)
	var specs []openapi.Resource
	for _, st := range stores {
		res := st.Resource()
		specs = append(specs, openapi.Resource{GroupVersion: res.GroupVersion, Name: res.Name, Kind: res.Kind,
			Namespaced: res.Namespaced, Subresources: endpoints.SubresourceNames(res)})
	}
	if err := openapi.Install(mux, specs); err != nil {
		return nil, fmt.Errorf("openapi: %w", err)
	}

	cfg, err := s.serverConfig(mux)
	if err != nil {
		return nil, err
	}
	if s.server, err = server.New(cfg); err != nil {
		return nil, err
	}
	if err := s.server.Listen(); err != nil {
		return nil, err
	}
	if err := s.bootstrap(ctx, alloc); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *APIServer) openEtcd(ctx context.Context) error {
	o := s.opts
	if len(o.EtcdServers) == 0 {
		e, err := storage.StartEmbedded(ctx, storage.EmbeddedOptions{Dir: filepath.Join(o.DataDir, "etcd"), UnsafeNoFsync: o.EtcdUnsafeNoFsync})
		if err != nil {
			return err
		}
		s.etcd, s.client = e, e.Client
		return nil
	}
	cfg := clientv3.Config{Endpoints: o.EtcdServers, DialTimeout: 10 * time.Second, Logger: nil}
	if o.EtcdCertFile != "" || o.EtcdCAFile != "" {
		tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if o.EtcdCertFile != "" {
			cert, err := tls.LoadX509KeyPair(o.EtcdCertFile, o.EtcdKeyFile)
			if err != nil {
				return fmt.Errorf("load etcd client certificate: %w", err)
			}
			tlsCfg.Certificates = []tls.Certificate{cert}
		}
		if o.EtcdCAFile != "" {
			pool, err := loadPool(o.EtcdCAFile)
			if err != nil {
				return fmt.Errorf("etcd CA: %w", err)
			}
			tlsCfg.RootCAs = pool
		}
		cfg.TLS = tlsCfg
	}
	client, err := clientv3.New(cfg)
	if err != nil {
		return fmt.Errorf("connect to etcd %v: %w", o.EtcdServers, err)
	}
	s.client = client
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := client.Get(cctx, "/registry/health"); err != nil {
		return fmt.Errorf("etcd %v is not reachable: %w", o.EtcdServers, err)
	}
	return nil
}

func loadPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificates", file)
	}
	return pool, nil
}

func (s *APIServer) serverConfig(api http.Handler) (server.Config, error) {
	o := s.opts
	certFile, keyFile := o.TLSCertFile, o.TLSKeyFile
	var clientCA *x509.CertPool
	if o.ClientCAFile != "" {
		pool, err := loadPool(o.ClientCAFile)
		if err != nil {
			return server.Config{}, fmt.Errorf("--client-ca-file: %w", err)
		}
		clientCA = pool
	}
	if certFile == "" {
		dir := filepath.Join(o.DataDir, "pki")
		ca, err := pki.LoadOrCreateCA(dir, "kubelab-ca")
		if err != nil {
			return server.Config{}, err
		}
		ips := []net.IP{net.ParseIP("127.0.0.1")}
		if ip := net.ParseIP(o.AdvertiseAddress); ip != nil {
			ips = append(ips, ip)
		}
		if certFile, keyFile, err = ca.LoadOrIssueServing(dir, "apiserver", []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}, ips); err != nil {
			return server.Config{}, err
		}
		if clientCA == nil {
			clientCA = ca.Pool()
		}
	}
	var authns []authn.Authenticator
	if clientCA != nil {
		authns = append(authns, authn.NewX509(clientCA))
	}
	if o.TokenAuthFile != "" {
		tf, err := authn.NewTokenFile(o.TokenAuthFile)
		if err != nil {
			return server.Config{}, err
		}
		authns = append(authns, tf)
	}
	return server.Config{
		BindAddress:                 net.JoinHostPort(o.BindAddress, fmt.Sprint(o.SecurePort)),
		CertFile:                    certFile,
		KeyFile:                     keyFile,
		ClientCA:                    clientCA,
		Authenticator:               authn.Union(authns...),
		Authorizer:                  authz.Union(authz.NewMasters()),
		MaxRequestsInFlight:         o.MaxRequestsInFlight,
		MaxMutatingRequestsInFlight: o.MaxMutatingRequestsInFlight,
		API:                         api,
		ReadyChecks:                 map[string]func(context.Context) error{"etcd": s.etcdHealthy},
		ShutdownTimeout:             o.ShutdownTimeout,
		Version:                     Version(),
	}, nil
}

func (s *APIServer) etcdHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := s.client.Get(ctx, "/registry/health")
	return err
}

// Addr is the address the server listens on.
func (s *APIServer) Addr() net.Addr { return s.server.Addr() }

// Ready is closed once the server serves requests.
func (s *APIServer) Ready() <-chan struct{} { return s.ready }

// EtcdClient returns the etcd client the server stores objects through
// (the embedded one or an external cluster's), for benchmarks and tests.
func (s *APIServer) EtcdClient() *clientv3.Client { return s.client }

// Store returns the registry store of a resource ("pods", "deployments.apps" ...), for tests.
func (s *APIServer) Store(gvr string) *registry.Store { return s.stores[gvr] }

// Run serves until ctx is done, then shuts down gracefully and closes etcd.
func (s *APIServer) Run(ctx context.Context) error {
	defer s.close()
	go s.compact(ctx)
	if s.opts.WatchCache {
		for _, st := range s.stores {
			if !st.Resource().NoWatchCache {
				st.StartWatchCache(ctx)
			}
		}
	}
	go s.namespaces.run(ctx)
	errc := make(chan error, 1)
	go func() { errc <- s.server.Serve(ctx) }()
	close(s.ready)
	slog.Info("kube-apiserver serving", "address", s.Addr().String())
	return <-errc
}

func (s *APIServer) close() {
	if s.storage != nil {
		s.storage.Close()
	}
	if s.etcd != nil {
		s.etcd.Close()
		s.etcd = nil
	} else if s.client != nil {
		_ = s.client.Close()
	}
	s.client = nil
}

// compact discards etcd history older than one interval, as upstream does.
func (s *APIServer) compact(ctx context.Context) {
	if s.opts.CompactionInterval <= 0 {
		return
	}
	t := time.NewTicker(s.opts.CompactionInterval)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if last > 0 {
			if err := s.storage.Compact(ctx, last); err != nil {
				slog.Warn("etcd compaction failed", "err", err)
			}
		}
		rev, err := s.storage.CurrentRevision(ctx)
		if err == nil {
			last = rev
		}
	}
}

// bootstrap creates the namespaces and the kubernetes service every cluster has.
func (s *APIServer) bootstrap(ctx context.Context, alloc *core.ServiceAllocator) error {
	wo := registry.WriteOptions{FieldManager: "kube-apiserver"}
	nsStore := s.stores["/v1, Resource=namespaces"]
	for _, name := range []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease} {
		if _, err := nsStore.Create(ctx, "", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, wo); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", name, err)
		}
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault,
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{ClusterIP: alloc.FirstIP().String(), Ports: []corev1.ServicePort{{
			Name: "https", Port: 443, Protocol: corev1.ProtocolTCP}}},
	}
	port := s.Addr().(*net.TCPAddr).Port
	svc.Spec.Ports[0].TargetPort.IntVal = int32(port)
	services := s.stores["/v1, Resource=services"]
	if _, err := services.Get(ctx, metav1.NamespaceDefault, "kubernetes"); apierrors.IsNotFound(err) {
		if _, err := services.Create(ctx, metav1.NamespaceDefault, svc, wo); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create the kubernetes service: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("read the kubernetes service: %w", err)
	}
	// Endpoints may not point at loopback (upstream validation), so a
	// server advertised on 127.0.0.1 (kubelab local) has none.
	if ip := net.ParseIP(s.opts.AdvertiseAddress); ip != nil && !ip.IsLoopback() && !ip.IsUnspecified() {
		ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault},
			Subsets: []corev1.EndpointSubset{{Addresses: []corev1.EndpointAddress{{IP: ip.String()}},
				Ports: []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}}}}}
		epStore := s.stores["/v1, Resource=endpoints"]
		if _, _, err := epStore.Update(ctx, metav1.NamespaceDefault, "kubernetes", ep, wo); err != nil {
			return fmt.Errorf("write the kubernetes endpoints: %w", err)
		}
	}
	return nil
}
