package supervisor

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// spawn starts the program's process in its own process group, with
// stdin from /dev/null and stdout and stderr into its log, registered
// with the reaper for its exit status.
func (p *program) spawn() (*os.Process, <-chan unix.WaitStatus, error) {
	env := p.environ()
	path, err := lookPath(p.cfg.Command[0], env)
	if err != nil {
		return nil, nil, err
	}
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, nil, err
	}
	defer devnull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	attr := &os.ProcAttr{
		Dir:   p.cfg.Directory,
		Env:   env,
		Files: []*os.File{devnull, w, w},
		// Pdeathsig takes the program down should the supervisor die
		// without stopping it (outside a node; as PID 1 the kernel does).
		Sys: &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL},
	}
	proc, exit, err := p.sup.reaper.start(func() (*os.Process, error) {
		return os.StartProcess(path, p.cfg.Command, attr)
	})
	w.Close()
	if err != nil {
		r.Close()
		return nil, nil, err
	}
	go func() {
		// Until every holder of the pipe (the program and any child that
		// inherited its output) has closed it.
		_, _ = io.Copy(p.log, r)
		r.Close()
	}()
	return proc, exit, nil
}

// environ is the supervisor's environment with SUPERVISOR_PROCESS_NAME
// and the program's environment over it.
func (p *program) environ() []string {
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	env["SUPERVISOR_PROCESS_NAME"] = p.cfg.Name
	for k, v := range p.cfg.Environment {
		env[k] = v
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// lookPath finds a command without '/' in the program's PATH.
func lookPath(name string, env []string) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	path := ""
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path = v
		}
	}
	for _, dir := range strings.Split(path, ":") {
		if dir == "" {
			dir = "."
		}
		candidate := dir + "/" + name
		if st, err := os.Stat(candidate); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return candidate, nil
		}
	}
	return "", fmt.Errorf("%q: %w", name, exec.ErrNotFound)
}
