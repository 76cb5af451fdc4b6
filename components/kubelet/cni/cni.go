// Package cni writes the node's pod network configuration for the
// runtime's CNI plugins: a bridge (cni0) with host-local IPAM over the
// node's podCIDRs and portmap for host ports. Within one node that is the
// whole pod network; routes between nodes come with the networking work.
package cni

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// FileName is the config file the kubelet owns in the CNI config dir.
const FileName = "10-kubelab.conflist"

// Options shape the bridge network.
type Options struct {
	// Bridge is the bridge's name (cni0).
	Bridge string
	// MTU is the pod interfaces' MTU (0: the plugin's default).
	MTU int
	// IPMasq masquerades pod traffic leaving the pod network.
	IPMasq bool
}

// Config is the conflist for the node's podCIDRs.
func Config(podCIDRs []string, o Options) ([]byte, error) {
	if len(podCIDRs) == 0 {
		return nil, fmt.Errorf("no podCIDR")
	}
	if o.Bridge == "" {
		o.Bridge = "cni0"
	}
	var ranges [][]map[string]string
	var routes []map[string]string
	for _, c := range podCIDRs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("podCIDR %q: %w", c, err)
		}
		ranges = append(ranges, []map[string]string{{"subnet": p.Masked().String()}})
		dst := "0.0.0.0/0"
		if p.Addr().Is6() {
			dst = "::/0"
		}
		routes = append(routes, map[string]string{"dst": dst})
	}
	bridge := map[string]any{
		"type": "bridge", "bridge": o.Bridge, "isGateway": true, "ipMasq": o.IPMasq, "hairpinMode": true,
		"ipam": map[string]any{"type": "host-local", "ranges": ranges, "routes": routes},
	}
	if o.MTU > 0 {
		bridge["mtu"] = o.MTU
	}
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "kubelab",
		"plugins": []any{
			bridge,
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// Write writes the config for podCIDRs into dir (atomically, and only
// when it changed) and reports whether it did.
func Write(dir string, podCIDRs []string, o Options) (bool, error) {
	data, err := Config(podCIDRs, o)
	if err != nil {
		return false, err
	}
	path := filepath.Join(dir, FileName)
	if cur, err := os.ReadFile(path); err == nil && bytes.Equal(cur, data) {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("create CNI config dir: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".kubelab-cni-")
	if err != nil {
		return false, fmt.Errorf("write CNI config: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return false, fmt.Errorf("write CNI config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return false, fmt.Errorf("write CNI config: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return false, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return false, fmt.Errorf("write CNI config: %w", err)
	}
	return true, nil
}

// Present reports whether dir holds any CNI network config.
func Present(dir string) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && !strings.HasPrefix(n, ".") &&
			(strings.HasSuffix(n, ".conf") || strings.HasSuffix(n, ".conflist") || strings.HasSuffix(n, ".json")) {
			return true
		}
	}
	return false
}
