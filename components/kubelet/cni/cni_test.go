package cni

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "net.d")
	if Present(dir) {
		t.Fatal("config present in a missing dir")
	}
	changed, err := Write(dir, []string{"10.244.1.0/24"}, Options{IPMasq: true})
	if err != nil || !changed {
		t.Fatalf("Write = %v, %v", changed, err)
	}
	if !Present(dir) {
		t.Fatal("config not present after Write")
	}
	b, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	var conf struct {
		Plugins []struct {
			Type   string `json:"type"`
			Bridge string `json:"bridge"`
			IPAM   struct {
				Type   string                `json:"type"`
				Ranges [][]map[string]string `json:"ranges"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal(b, &conf); err != nil {
		t.Fatal(err)
	}
	p := conf.Plugins
	if len(p) != 2 || p[0].Type != "bridge" || p[0].Bridge != "cni0" || p[0].IPAM.Type != "host-local" ||
		p[0].IPAM.Ranges[0][0]["subnet"] != "10.244.1.0/24" || p[1].Type != "portmap" {
		t.Errorf("config = %s", b)
	}
	if changed, err := Write(dir, []string{"10.244.1.0/24"}, Options{IPMasq: true}); err != nil || changed {
		t.Errorf("unchanged config rewritten: %v %v", changed, err)
	}
	if changed, err := Write(dir, []string{"10.244.2.0/24", "fd00::/64"}, Options{}); err != nil || !changed {
		t.Errorf("new podCIDR not written: %v %v", changed, err)
	}
	for _, bad := range [][]string{nil, {"nope"}} {
		if _, err := Config(bad, Options{}); err == nil {
			t.Errorf("Config(%v) accepted", bad)
		}
	}
}
