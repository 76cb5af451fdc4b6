package supervisor

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"slices"
)

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Validate reports every problem of the config at once.
func (c *Config) Validate() error {
	var errs []error
	if c.Socket == "" || !filepath.IsAbs(c.Socket) {
		errs = append(errs, fmt.Errorf("socket %q must be an absolute path", c.Socket))
	}
	if err := c.Node.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("node: %w", err))
	}
	byName := map[string]*Program{}
	for i := range c.Programs {
		p := &c.Programs[i]
		if _, dup := byName[p.Name]; dup && p.Name != "" {
			errs = append(errs, fmt.Errorf("programs[%d]: duplicate program name %q", i, p.Name))
			continue
		}
		byName[p.Name] = p
	}
	for i := range c.Programs {
		p := &c.Programs[i]
		for _, err := range p.validate(byName) {
			errs = append(errs, fmt.Errorf("programs[%d] (%s): %w", i, p.Name, err))
		}
	}
	if len(errs) == 0 {
		if cycle := dependencyCycle(c.Programs); cycle != nil {
			errs = append(errs, fmt.Errorf("depends_on cycle: %v", cycle))
		}
	}
	return errors.Join(errs...)
}

func (p *Program) validate(byName map[string]*Program) []error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.Name == "" {
		add("name is required")
	} else if !nameRE.MatchString(p.Name) {
		add("name %q: use letters, digits, '-', '_' and '.'", p.Name)
	} else if p.Name == "all" {
		add(`name "all" is reserved for ctl`)
	}
	if len(p.Command) == 0 || p.Command[0] == "" {
		add("command is required")
	}
	if p.StartSecs < 0 || p.StopWait < 0 {
		add("startsecs and stopwaitsecs must not be negative")
	}
	if p.StartRetries < 0 {
		add("startretries must not be negative")
	}
	switch p.AutoRestart {
	case RestartAlways, RestartNever, RestartUnexpected:
	default:
		add("autorestart must be true, false or unexpected, not %q", p.AutoRestart)
	}
	for _, code := range p.ExitCodes {
		if code < 0 || code > 255 {
			add("exit code %d is not in 0-255", code)
		}
	}
	if p.StopSignal <= 0 {
		add("stopsignal is required")
	}
	if p.LogFile == "" {
		add("logfile is required")
	}
	if p.LogFileMaxBytes < 0 || p.LogFileBackups < 0 {
		add("logfile_maxbytes and logfile_backups must not be negative")
	}
	if p.Ready && !p.AutoStart {
		add("ready: true needs autostart: true, or the node would never be ready")
	}
	for _, d := range p.DependsOn {
		switch dep, ok := byName[d]; {
		case !ok:
			add("depends_on %q: no such program", d)
		case d == p.Name:
			add("depends_on itself")
		case p.AutoStart && !dep.AutoStart:
			add("depends_on %q, which does not autostart", d)
		}
	}
	for _, list := range [][]Condition{p.WaitFor, p.RunningWhen} {
		for _, c := range list {
			if err := c.validate(); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errs
}

func (c Condition) validate() error {
	n := 0
	for _, v := range []string{c.Socket, c.File, c.TCP} {
		if v != "" {
			n++
		}
	}
	switch {
	case n != 1:
		return fmt.Errorf("a condition sets exactly one of socket, file and tcp")
	case c.Socket != "" && !filepath.IsAbs(c.Socket), c.File != "" && !filepath.IsAbs(c.File):
		return fmt.Errorf("condition %s: path must be absolute", c)
	case c.TCP != "":
		if _, _, err := net.SplitHostPort(c.TCP); err != nil {
			return fmt.Errorf("condition %s: %w", c, err)
		}
	}
	return nil
}

// dependencyCycle returns the names of a depends_on cycle, if any.
func dependencyCycle(programs []Program) []string {
	deps := map[string][]string{}
	for _, p := range programs {
		deps[p.Name] = p.DependsOn
	}
	const (
		unvisited = iota
		visiting
		done
	)
	state := map[string]int{}
	var path []string
	var visit func(string) []string
	visit = func(n string) []string {
		switch state[n] {
		case visiting:
			i := slices.Index(path, n)
			return append(slices.Clone(path[i:]), n)
		case done:
			return nil
		}
		state[n] = visiting
		path = append(path, n)
		for _, d := range deps[n] {
			if c := visit(d); c != nil {
				return c
			}
		}
		path = path[:len(path)-1]
		state[n] = done
		return nil
	}
	for _, p := range programs {
		if c := visit(p.Name); c != nil {
			return c
		}
	}
	return nil
}
