package nodes

import (
	"context"
	"fmt"
	"io"
	"strings"

	kindnodes "sigs.k8s.io/kind/pkg/cluster/nodes"
	kindexec "sigs.k8s.io/kind/pkg/exec"

	"github.com/kubelab/kubelab/components/kubelab/cluster/docker"
)

// Node is a node container as kind's nodes.Node, for kind's nodeutils
// (image loading, file writing), whose commands run through a plain
// `docker exec`. kind's own node handles run `docker exec --privileged`,
// which a daemon that cannot grant --privileged refuses ("unable to apply
// caps"), even into a container it started.
type Node struct {
	name string
}

var _ kindnodes.Node = Node{}

// NewNode returns the handle of node container name.
func NewNode(name string) Node { return Node{name: name} }

// String returns the container name.
func (n Node) String() string { return n.name }

// Role returns the io.x-k8s.kind.role label.
func (n Node) Role() (string, error) {
	out, err := docker.Output(context.Background(), "inspect", "--format",
		fmt.Sprintf(`{{index .Config.Labels %q}}`, docker.RoleLabel), n.name)
	return strings.TrimSpace(out), err
}

// IP returns the node's IPv4 address on the kind network (no IPv6).
func (n Node) IP() (string, string, error) {
	ip, err := docker.ContainerIP(context.Background(), n.name, docker.NetworkName)
	return ip, "", err
}

// SerialLogs writes the container's log (the supervisor's output) to w.
func (n Node) SerialLogs(w io.Writer) error {
	return kindexec.Command("docker", "logs", n.name).SetStdout(w).SetStderr(w).Run()
}

// Command returns a command run in the node by `docker exec`.
func (n Node) Command(command string, args ...string) kindexec.Cmd {
	return &nodeCmd{node: n.name, argv: append([]string{command}, args...)}
}

// CommandContext is Command bounded by ctx.
func (n Node) CommandContext(ctx context.Context, command string, args ...string) kindexec.Cmd {
	return &nodeCmd{node: n.name, argv: append([]string{command}, args...), ctx: ctx}
}

// nodeCmd is a kind exec.Cmd for `docker exec [-i] [-e ...] <node> argv...`.
type nodeCmd struct {
	node           string
	argv           []string
	env            []string
	stdin          io.Reader
	stdout, stderr io.Writer
	ctx            context.Context
}

func (c *nodeCmd) Run() error {
	args := []string{"exec"}
	if c.stdin != nil {
		args = append(args, "-i")
	}
	for _, e := range c.env {
		args = append(args, "-e", e)
	}
	args = append(append(args, c.node), c.argv...)
	var cmd kindexec.Cmd
	if c.ctx != nil {
		cmd = kindexec.CommandContext(c.ctx, "docker", args...)
	} else {
		cmd = kindexec.Command("docker", args...)
	}
	if c.stdin != nil {
		cmd.SetStdin(c.stdin)
	}
	if c.stdout != nil {
		cmd.SetStdout(c.stdout)
	}
	if c.stderr != nil {
		cmd.SetStderr(c.stderr)
	}
	return cmd.Run()
}

func (c *nodeCmd) SetEnv(env ...string) kindexec.Cmd  { c.env = env; return c }
func (c *nodeCmd) SetStdin(r io.Reader) kindexec.Cmd  { c.stdin = r; return c }
func (c *nodeCmd) SetStdout(w io.Writer) kindexec.Cmd { c.stdout = w; return c }
func (c *nodeCmd) SetStderr(w io.Writer) kindexec.Cmd { c.stderr = w; return c }
