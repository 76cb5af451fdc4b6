// Command pause is the pod sandbox's init process: it holds the pod's
// namespaces open, reaps zombies when it runs as PID 1, and exits cleanly on
// SIGINT or SIGTERM, like upstream Kubernetes' pause.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

// version is reported by -v, as upstream's pause does.
const version = "3.10-kubelab"

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		os.Stdout.WriteString("pause.go " + version + "\n")
		return
	}
	if os.Getpid() != 1 {
		os.Stderr.WriteString("Warning: pause should be the first process\n")
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		os.Stderr.WriteString("Shutting down, got signal: " + sig.String() + "\n")
		os.Exit(0)
	}
}

// reap collects every exited child so none stays a zombie.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
