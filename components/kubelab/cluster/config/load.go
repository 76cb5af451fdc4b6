// Package config loads the kind cluster configuration files
// (kind.x-k8s.io/v1alpha4) that describe a kubelab lab cluster.
//
// Parsing follows kind's own loader (sigs.k8s.io/kind's
// pkg/internal/apis/config/encoding, which kind keeps internal): the same
// strict YAML decoding into kind's public v1alpha4 types, the same defaults
// and the same validation messages, so a file kind rejects is rejected here
// with the words kind would use. kubelab then adds the limits of its own
// control plane (Validate) and names what it ignores (Warnings).
//
// One difference is deliberate: a node without an image keeps Image empty
// instead of kind's kindest/node default, which means "kubelab's node image"
// (see SetNodeImage).
package config

import (
	"bytes"
	"os"

	yaml "go.yaml.in/yaml/v3"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/errors"
)

// APIVersion and Kind identify a kind cluster configuration.
const (
	APIVersion = "kind.x-k8s.io/v1alpha4"
	Kind       = "Cluster"
)

// Load reads the file at path and parses it (see Parse). An empty path gives
// the default: one control-plane node. "-" reads standard input.
func Load(path string) (*v1alpha4.Cluster, error) {
	if path == "" {
		return Default(), nil
	}
	var raw []byte
	var err error
	if path == "-" {
		raw, err = readAll(os.Stdin)
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, errors.Wrap(err, "error reading file")
	}
	return Parse(raw)
}

// Default returns kind's default configuration, one control-plane node,
// with defaults applied.
func Default() *v1alpha4.Cluster {
	c := &v1alpha4.Cluster{TypeMeta: v1alpha4.TypeMeta{APIVersion: APIVersion, Kind: Kind}}
	setDefaults(c)
	return c
}

// Parse decodes a kind cluster configuration strictly (unknown fields are
// errors) and applies kind's defaults, as kind's encoding.Parse does.
func Parse(raw []byte) (*v1alpha4.Cluster, error) {
	tm := typeMeta{}
	if err := yaml.Unmarshal(raw, &tm); err != nil {
		return nil, errors.Wrap(err, "could not determine kind / apiVersion for config")
	}
	if tm.APIVersion != APIVersion {
		return nil, errors.Errorf("unknown apiVersion: %s", tm.APIVersion)
	}
	if tm.Kind != Kind {
		return nil, errors.Errorf("unknown kind %s for apiVersion: %s", tm.Kind, tm.APIVersion)
	}
	cfg := &v1alpha4.Cluster{}
	d := yaml.NewDecoder(bytes.NewReader(raw))
	d.KnownFields(true)
	if err := d.Decode(cfg); err != nil {
		return nil, errors.Wrap(err, "unable to decode config")
	}
	setDefaults(cfg)
	return cfg, nil
}

// setDefaults applies kind's v1alpha4 defaults but leaves images that were
// not set empty: they become kubelab's node image at create time.
func setDefaults(c *v1alpha4.Cluster) {
	if len(c.Nodes) == 0 {
		c.Nodes = []v1alpha4.Node{{Role: v1alpha4.ControlPlaneRole}}
	}
	explicit := make([]bool, len(c.Nodes))
	for i, n := range c.Nodes {
		explicit[i] = n.Image != ""
	}
	v1alpha4.SetDefaultsCluster(c)
	for i := range c.Nodes {
		if !explicit[i] {
			c.Nodes[i].Image = ""
		}
	}
}

// SetNodeImage gives every node without an image the image image; with
// override it replaces every node's image, as kind's --image does.
func SetNodeImage(c *v1alpha4.Cluster, image string, override bool) {
	for i := range c.Nodes {
		if override || c.Nodes[i].Image == "" {
			c.Nodes[i].Image = image
		}
	}
}

// typeMeta is metav1.TypeMeta with yaml tags, as in kind.
type typeMeta struct {
	Kind       string `yaml:"kind,omitempty"`
	APIVersion string `yaml:"apiVersion,omitempty"`
}

func readAll(f *os.File) ([]byte, error) {
	var b bytes.Buffer
	_, err := b.ReadFrom(f)
	return b.Bytes(), err
}
