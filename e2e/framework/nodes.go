package framework

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/onsi/ginkgo/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ErrNoNodeAccess is why a spec cannot reach a node's machine: the nodes
// are not Docker containers this machine's docker CLI reaches.
var ErrNoNodeAccess = errors.New("nodes are not Docker containers reachable with docker exec")

// DockerNode reaches a node that is a Docker container named as its Node,
// as kubelab's and kind's nodes are: it runs commands in it with
// `docker exec` and stops and starts the container.
type DockerNode struct {
	// Name is the Node's and the container's name.
	Name string
	// docker is the docker CLI's path.
	docker string
}

// NewDockerNode returns access to node through the docker CLI, or an
// error wrapping ErrNoNodeAccess that says what is missing: the CLI, a
// daemon, a container named as the node, or one whose address is the
// node's (a container of that name that is some other machine).
func NewDockerNode(ctx context.Context, node *corev1.Node) (*DockerNode, error) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		return nil, fmt.Errorf("%w: no docker CLI on PATH", ErrNoNodeAccess)
	}
	n := &DockerNode{Name: node.Name, docker: docker}
	out, err := n.run(ctx, "inspect", "--type", "container", "--format",
		"{{.State.Running}}{{range .NetworkSettings.Networks}} {{.IPAddress}} {{.GlobalIPv6Address}}{{end}}", node.Name)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNoNodeAccess, err)
	}
	fields := strings.Fields(out)
	if len(fields) == 0 || fields[0] != "true" {
		return nil, fmt.Errorf("%w: container %s is not running (%q)", ErrNoNodeAccess, node.Name, out)
	}
	var nodeIPs []string
	for _, a := range node.Status.Addresses {
		if a.Type == corev1.NodeInternalIP || a.Type == corev1.NodeExternalIP {
			nodeIPs = append(nodeIPs, a.Address)
		}
	}
	if !slices.ContainsFunc(fields[1:], func(ip string) bool { return slices.Contains(nodeIPs, ip) }) {
		return nil, fmt.Errorf("%w: container %s has addresses %v, node %s has %v: not the same machine",
			ErrNoNodeAccess, node.Name, fields[1:], node.Name, nodeIPs)
	}
	return n, nil
}

// SkipUnlessDockerNode returns access to node, or skips the spec saying
// why the node cannot be reached.
func SkipUnlessDockerNode(ctx context.Context, node *corev1.Node) *DockerNode {
	n, err := NewDockerNode(ctx, node)
	if err != nil {
		ginkgo.Skip(fmt.Sprintf("node %s: %v", node.Name, err))
	}
	return n
}

// run runs the docker CLI with args and returns its standard output; its
// error carries the standard error.
func (n *DockerNode) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, n.docker, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// Exec runs command on the node (`docker exec <node> command...`) and
// returns its standard output, also when it fails.
func (n *DockerNode) Exec(ctx context.Context, command ...string) (string, error) {
	out, err := n.run(ctx, append([]string{"exec", n.Name}, command...)...)
	Logf("on node %s: %v: err=%v stdout=%q", n.Name, command, err, truncate(out, 400))
	return out, err
}

// Stop stops the node's container (`docker stop`): its programs get
// SIGTERM, and SIGKILL after grace.
func (n *DockerNode) Stop(ctx context.Context, grace time.Duration) error {
	Logf("stopping node container %s", n.Name)
	_, err := n.run(ctx, "stop", "--time", strconv.Itoa(int(grace.Seconds())), n.Name)
	return err
}

// Start starts the node's stopped container (`docker start`).
func (n *DockerNode) Start(ctx context.Context) error {
	Logf("starting node container %s", n.Name)
	_, err := n.run(ctx, "start", n.Name)
	return err
}

// Running reports whether the node's container runs.
func (n *DockerNode) Running(ctx context.Context) (bool, error) {
	out, err := n.run(ctx, "inspect", "--type", "container", "--format", "{{.State.Running}}", n.Name)
	if err != nil {
		return false, err
	}
	return strings.TrimSpace(out) == "true", nil
}

// Process is a node program (containerd, the kubelet) as the node sees it.
type Process struct {
	// Name is the program's name.
	Name string
	// State is its supervisor state (RUNNING, STARTING, BACKOFF, ...), or
	// RUNNING when it was found by name on a node without kubelab's
	// supervisor.
	State string
	// PID is its process ID in the node (0 when not running).
	PID int
}

// Process returns the state of program name: from `node-supervisor ctl
// status` on a kubelab node, else (a systemd node such as kind's) the
// oldest process of that name (`pgrep -o -x`).
func (n *DockerNode) Process(ctx context.Context, name string) (Process, error) {
	out, err := n.run(ctx, "exec", n.Name, "node-supervisor", "ctl", "status", name)
	if p, ok := parseSupervisorStatus(out, name); ok {
		return p, nil
	}
	if err != nil && !strings.Contains(err.Error(), "executable file not found") {
		return Process{}, fmt.Errorf("status of %s on node %s: %w", name, n.Name, err)
	}
	out, err = n.run(ctx, "exec", n.Name, "pgrep", "-o", "-x", name)
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) && exit.ExitCode() == 1 { // pgrep: no process matched
			return Process{Name: name, State: "STOPPED"}, nil
		}
		return Process{}, fmt.Errorf("find %s on node %s: %w", name, n.Name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(out))
	if err != nil {
		return Process{}, fmt.Errorf("pgrep %s on node %s printed %q", name, n.Name, out)
	}
	return Process{Name: name, State: "RUNNING", PID: pid}, nil
}

// parseSupervisorStatus reads name's line of `node-supervisor ctl status`:
// "<name> <STATE> pid <pid>, uptime <h:mm:ss>" or "<name> <STATE> <why>".
func parseSupervisorStatus(out, name string) (Process, bool) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != name {
			continue
		}
		p := Process{Name: name, State: f[1]}
		if len(f) >= 4 && f[2] == "pid" {
			p.PID, _ = strconv.Atoi(strings.TrimSuffix(f[3], ","))
		}
		return p, true
	}
	return Process{}, false
}

// Kill sends signal (a name such as KILL) to the node's process pid,
// with the node shell's kill.
func (n *DockerNode) Kill(ctx context.Context, pid int, signal string) error {
	_, err := n.Exec(ctx, "sh", "-c", fmt.Sprintf("kill -%s %d", signal, pid))
	return err
}

// WaitForProcessRestarted waits until program name runs again under
// another PID than old, and returns it.
func (n *DockerNode) WaitForProcessRestarted(ctx context.Context, name string, old int, timeout time.Duration) (Process, error) {
	var p Process
	err := WaitFor(ctx, fmt.Sprintf("%s on node %s to run again (it was pid %d)", name, n.Name, old), timeout,
		func(ctx context.Context) (bool, string, error) {
			var err error
			p, err = n.Process(ctx, name)
			if err != nil {
				return false, err.Error(), nil
			}
			return p.State == "RUNNING" && p.PID != 0 && p.PID != old, fmt.Sprintf("%s pid %d", p.State, p.PID), nil
		})
	return p, err
}

// NodeCondition returns node's condition t (status Unknown when missing).
func NodeCondition(node *corev1.Node, t corev1.NodeConditionType) corev1.NodeCondition {
	for _, c := range node.Status.Conditions {
		if c.Type == t {
			return c
		}
	}
	return corev1.NodeCondition{Type: t, Status: corev1.ConditionUnknown}
}

// IsNodeReady reports whether node's Ready condition is True.
func IsNodeReady(node *corev1.Node) bool {
	return NodeCondition(node, corev1.NodeReady).Status == corev1.ConditionTrue
}

// HasTaint reports whether node has a taint with key and effect.
func HasTaint(node *corev1.Node, key string, effect corev1.TaintEffect) bool {
	return slices.ContainsFunc(node.Spec.Taints, func(t corev1.Taint) bool { return t.Key == key && t.Effect == effect })
}

// WaitForNode polls node name until cond holds and returns it.
func WaitForNode(ctx context.Context, c kubernetes.Interface, name, desc string, timeout time.Duration, cond func(*corev1.Node) bool) (*corev1.Node, error) {
	var last *corev1.Node
	err := WaitFor(ctx, fmt.Sprintf("node %s %s", name, desc), timeout, func(ctx context.Context) (bool, string, error) {
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, "get: " + err.Error(), nil
		}
		last = n
		return cond(n), nodeSummary(n), nil
	})
	return last, err
}

// WaitForNodeReady waits until node name is Ready without the
// unreachable and not-ready taints.
func WaitForNodeReady(ctx context.Context, c kubernetes.Interface, name string, timeout time.Duration) error {
	_, err := WaitForNode(ctx, c, name, "to be Ready and untainted", timeout, func(n *corev1.Node) bool {
		return IsNodeReady(n) && !HasTaint(n, corev1.TaintNodeUnreachable, corev1.TaintEffectNoExecute) &&
			!HasTaint(n, corev1.TaintNodeNotReady, corev1.TaintEffectNoExecute)
	})
	return err
}

// WaitForHeartbeat waits until node name's kubelet renews its Lease
// after since: a kubelet that runs and reaches the API server.
func WaitForHeartbeat(ctx context.Context, c kubernetes.Interface, name string, since time.Time, timeout time.Duration) error {
	return WaitFor(ctx, fmt.Sprintf("a Lease renewal of node %s after %s", name, since.Format("15:04:05.000")), timeout,
		func(ctx context.Context) (bool, string, error) {
			l, err := c.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, "get lease: " + err.Error(), nil
			}
			if l.Spec.RenewTime == nil {
				return false, "no renewTime", nil
			}
			return l.Spec.RenewTime.After(since), "renewed " + l.Spec.RenewTime.Format("15:04:05.000"), nil
		})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
