// Package netnstest gives kube-proxy's kernel tests throwaway network
// namespaces (`ip netns`), a way to run code inside one, and an nftables
// connection into one. Tests skip, saying what is missing, on a machine
// that cannot make them.
package netnstest

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/google/nftables"
	"github.com/vishvananda/netns"
)

// Path is the file of the named namespace `ip netns add` made.
func Path(name string) string { return "/run/netns/" + name }

// Require skips the test unless this machine lets it create network
// namespaces with nf_tables in them (root, iproute2, a kernel with
// nf_tables).
func Require(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN) to create network namespaces")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs the ip command (iproute2) to create network namespaces")
	}
	path := Add(t, fmt.Sprintf("kpt-probe-%d", os.Getpid()))
	c := NFTables(t, path)
	c.AddTable(&nftables.Table{Name: "probe", Family: nftables.TableFamilyIPv4})
	if err := c.Flush(); err != nil {
		t.Skipf("no nf_tables in this kernel: %v", err)
	}
}

// Add creates the namespace name, deleted when the test ends, and
// returns its path; it skips the test when the namespace cannot be made.
func Add(t testing.TB, name string) string {
	t.Helper()
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("cannot create a network namespace: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", name).Run() })
	return Path(name)
}

// Do runs fn on an OS thread inside the namespace at path. The thread is
// thrown away afterwards (its goroutine exits locked), so no other code
// ever runs in the wrong namespace.
func Do(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		h, err := netns.GetFromPath(path)
		if err != nil {
			errc <- err
			return
		}
		defer h.Close()
		if err := netns.Set(h); err != nil {
			errc <- err
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// NFTables returns an nftables connection into the namespace at path,
// open until the test ends.
func NFTables(t testing.TB, path string) *nftables.Conn {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("network namespace file: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	c, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		t.Skipf("no nf_tables: %v", err)
	}
	return c
}
