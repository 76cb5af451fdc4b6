package docker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
)

// Output runs `docker args...` and returns its standard output. A failure
// carries Docker's own message from standard error.
func Output(ctx context.Context, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), commandError(args, err, stderr.String())
	}
	return stdout.String(), nil
}

// Run runs `docker args...` with stdin as its standard input.
func Run(ctx context.Context, stdin io.Reader, args ...string) error {
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Stdin, cmd.Stderr = stdin, &stderr
	if err := cmd.Run(); err != nil {
		return commandError(args, err, stderr.String())
	}
	return nil
}

func commandError(args []string, err error, stderr string) error {
	verb := "docker"
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			verb += " " + a
			break
		}
	}
	if msg := strings.TrimSpace(stderr); msg != "" {
		return fmt.Errorf("%s: %s", verb, msg)
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		return fmt.Errorf("%s: docker CLI not found: %w", verb, err)
	}
	return fmt.Errorf("%s: %w", verb, err)
}

// Info is what kubelab needs from `docker info`.
type Info struct {
	ServerVersion string   `json:"ServerVersion"`
	Driver        string   `json:"Driver"`
	CgroupVersion string   `json:"CgroupVersion"`
	CgroupDriver  string   `json:"CgroupDriver"`
	SecurityOpts  []string `json:"SecurityOptions"`
}

// Rootless reports whether the daemon runs rootless.
func (i Info) Rootless() bool {
	for _, o := range i.SecurityOpts {
		if strings.Contains(o, "name=rootless") {
			return true
		}
	}
	return false
}

// GetInfo asks the daemon about itself; its error says plainly when no
// daemon answers.
func GetInfo(ctx context.Context) (Info, error) {
	out, err := Output(ctx, "info", "--format", "{{json .}}")
	var info Info
	if err == nil {
		err = json.Unmarshal([]byte(out), &info)
	}
	if err == nil && info.ServerVersion == "" {
		err = errors.New("no server version reported")
	}
	if err != nil {
		return Info{}, fmt.Errorf("cannot reach the Docker daemon (is it running, and may this user use it?): %w", err)
	}
	return info, nil
}

// ImageExists reports whether ref is present in the daemon's image store.
func ImageExists(ctx context.Context, ref string) bool {
	_, err := Output(ctx, "image", "inspect", "--format", "{{.Id}}", ref)
	return err == nil
}

// LatestImage returns repo:tag of the most recently created local image of
// repository repo, or "" when there is none.
func LatestImage(ctx context.Context, repo string) (string, error) {
	out, err := Output(ctx, "images", "--format", "{{.Repository}}:{{.Tag}}", repo)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") { // newest first
		if line = strings.TrimSpace(line); line != "" && !strings.HasSuffix(line, ":<none>") {
			return line, nil
		}
	}
	return "", nil
}

// capsDenied matches the runtime's refusal to grant --privileged's
// capabilities (DESIGN.md §3).
var capsDenied = regexp.MustCompile(`(?i)unable to apply caps|operation not permitted`)

// CanRunPrivileged probes whether the daemon can start a --privileged
// container, by running `true` in image (any local image with a true
// binary). It returns the daemon's message when it cannot. Errors other
// than a refused privilege (a missing binary, say) count as success: the
// container was created with its privileges before the command failed.
func CanRunPrivileged(ctx context.Context, image string) (bool, string) {
	_, err := Output(ctx, "run", "--rm", "--privileged", "--entrypoint", "true", image)
	if err != nil && capsDenied.MatchString(err.Error()) {
		return false, err.Error()
	}
	return true, ""
}

// EnsureNetwork creates the bridge network name unless it exists, as kind
// does (IP masquerade on, the default bridge's MTU, IPv6 where available),
// so that kind and kubelab clusters share it.
func EnsureNetwork(ctx context.Context, name string) error {
	out, err := Output(ctx, "network", "ls", "--filter", "name=^"+regexp.QuoteMeta(name)+"$", "--format", "{{.Name}}")
	if err != nil {
		return fmt.Errorf("list docker networks: %w", err)
	}
	if strings.TrimSpace(out) != "" {
		return nil
	}
	args := []string{"network", "create", "-d=bridge", "-o", "com.docker.network.bridge.enable_ip_masquerade=true"}
	if mtu, err := Output(ctx, "network", "inspect", "bridge", "-f", `{{ index .Options "com.docker.network.driver.mtu" }}`); err == nil {
		if mtu = strings.TrimSpace(mtu); mtu != "" && mtu != "<no value>" {
			args = append(args, "-o", "com.docker.network.driver.mtu="+mtu)
		}
	}
	err = Run(ctx, nil, append(args, "--ipv6", "--subnet", ULASubnet(name), name)...)
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		// IPv6 may be unavailable on this daemon: retry IPv4 only, as kind does.
		err = Run(ctx, nil, append(args, name)...)
	}
	if err != nil && !strings.Contains(err.Error(), "already exists") {
		return fmt.Errorf("create docker network %s: %w", name, err)
	}
	return nil
}

// ContainerIP returns the IPv4 address of container name on network.
func ContainerIP(ctx context.Context, name, network string) (string, error) {
	out, err := Output(ctx, "inspect", "--format",
		fmt.Sprintf(`{{with index .NetworkSettings.Networks %q}}{{.IPAddress}}{{end}}`, network), name)
	if err != nil {
		return "", err
	}
	ip := strings.TrimSpace(out)
	if ip == "" {
		return "", fmt.Errorf("container %s has no address on network %s", name, network)
	}
	return ip, nil
}

// WaitForLog follows the log of container name until a line matches re or
// ctx ends. If the container stops first, the error carries the log's last
// lines.
func WaitForLog(ctx context.Context, name string, re *regexp.Regexp) error {
	cmd := exec.CommandContext(ctx, "docker", "logs", "-f", name)
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("docker logs %s: %w", name, err)
	}
	done := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		done <- err
	}()
	var tail []string
	sc := bufio.NewScanner(pr)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if re.MatchString(line) {
			pr.Close()
			if cmd.Process != nil {
				_ = cmd.Process.Kill()
			}
			<-done
			return nil
		}
		tail = append(tail, line)
		if len(tail) > 15 {
			tail = tail[1:]
		}
	}
	err := <-done
	if ctx.Err() != nil {
		return fmt.Errorf("node %s did not log %q in time; last lines:\n%s", name, re, strings.Join(tail, "\n"))
	}
	state, _ := Output(context.WithoutCancel(ctx), "inspect", "--format", "{{.State.Status}} (exit code {{.State.ExitCode}})", name)
	return fmt.Errorf("node %s stopped before logging %q: %s %v; last lines:\n%s",
		name, re, strings.TrimSpace(state), err, strings.Join(tail, "\n"))
}

// PublishedPort returns the host address and port that container name
// publishes containerPort/tcp on. An unspecified address (0.0.0.0, ::)
// becomes loopback, which the API server's certificate names.
func PublishedPort(ctx context.Context, name string, containerPort int) (host, port string, err error) {
	out, err := Output(ctx, "inspect", "--format",
		fmt.Sprintf(`{{with index .NetworkSettings.Ports "%d/tcp"}}{{with index . 0}}{{.HostIp}} {{.HostPort}}{{end}}{{end}}`, containerPort), name)
	if err != nil {
		return "", "", err
	}
	host, port, ok := strings.Cut(strings.TrimSpace(out), " ")
	if !ok || port == "" {
		return "", "", fmt.Errorf("container %s publishes no port for %d/tcp", name, containerPort)
	}
	return LoopbackIfUnspecified(host), port, nil
}

// LoopbackIfUnspecified returns 127.0.0.1 (::1) for the wildcard addresses
// 0.0.0.0 (::) and other addresses unchanged.
func LoopbackIfUnspecified(host string) string {
	switch host {
	case "", "0.0.0.0":
		return "127.0.0.1"
	case "::":
		return "::1"
	}
	return host
}
