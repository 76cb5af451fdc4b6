package openapi

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/NYTimes/gziphandler"
	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
)

// Where the documents are served.
const (
	pathV2 = "/openapi/v2"
	pathV3 = "/openapi/v3"
)

var handlerPruneDefaults = handler.PruneDefaults

// register serves docs on mux through kube-openapi's handlers: v2 as JSON
// or protobuf (kubectl asks for protobuf) with an ETag, v3 as an index of
// ?hash= URLs whose documents are cacheable forever.
func register(mux *http.ServeMux, docs *documents) error {
	m := &patternRegistrar{mux: mux}

	handler.NewOpenAPIService(docs.v2).RegisterOpenAPIVersionedService(pathV2, m)

	v3 := handler3.NewOpenAPIService()
	for p, doc := range docs.v3 {
		v3.UpdateGroupVersion(p, doc)
	}
	// handler3 answers an unknown group version with an empty 200; ours is
	// a 404, so that clients see it does not exist.
	groupVersion := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := docs.v3[strings.TrimPrefix(r.URL.Path, pathV3+"/")]; !ok {
			http.NotFound(w, r)
			return
		}
		v3.HandleGroupVersion(w, r)
	})
	m.Handle(pathV3, gziphandler.GzipHandler(http.HandlerFunc(v3.HandleDiscovery)))
	m.Handle(pathV3+"/", gziphandler.GzipHandler(groupVersion))
	return m.err
}

// patternRegistrar is kube-openapi's common.PathHandler over a ServeMux,
// turning the mux's panic on a conflicting pattern into an error.
type patternRegistrar struct {
	mux *http.ServeMux
	err error
}

// Handle registers h for pattern unless an earlier registration failed.
func (p *patternRegistrar) Handle(pattern string, h http.Handler) {
	if p.err != nil {
		return
	}
	defer func() {
		if r := recover(); r != nil {
			p.err = fmt.Errorf("register %s: %v", pattern, r)
		}
	}()
	p.mux.Handle(pattern, h)
}
