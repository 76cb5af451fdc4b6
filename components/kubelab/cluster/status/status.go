// Package status prints kind's step-by-step progress lines:
//
//	✓ Preparing nodes 📦 📦 📦
//	✗ Starting control-plane 🕹️
//
// On a terminal the running step shows as " • step ..." and is replaced by
// its outcome; elsewhere (CI logs) both lines are printed, exactly as kind's
// status does without a spinner.
package status

import (
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/mattn/go-isatty"
)

// Status tracks the step in progress.
type Status struct {
	mu       sync.Mutex
	w        io.Writer
	terminal bool
	current  string
}

// New returns a Status writing to w.
func New(w io.Writer) *Status {
	s := &Status{w: w}
	if f, ok := w.(*os.File); ok {
		s.terminal = isatty.IsTerminal(f.Fd())
	}
	return s
}

// Start ends the previous step successfully and begins step.
func (s *Status) Start(step string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.end(true)
	s.current = step
	if s.terminal {
		fmt.Fprintf(s.w, " • %s ...", step)
	} else {
		fmt.Fprintf(s.w, " • %s  ...\n", step)
	}
}

// End ends the current step, if any, with ✓ or ✗.
func (s *Status) End(success bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.end(success)
}

// Printf prints a line between steps (the current step's line is finished
// first on a terminal).
func (s *Status) Printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.terminal && s.current != "" {
		fmt.Fprint(s.w, "\n")
	}
	fmt.Fprintf(s.w, format+"\n", args...)
	if s.terminal && s.current != "" {
		fmt.Fprintf(s.w, " • %s ...", s.current)
	}
}

func (s *Status) end(success bool) {
	if s.current == "" {
		return
	}
	mark, color := "✓", "\x1b[32m"
	if !success {
		mark, color = "✗", "\x1b[31m"
	}
	if s.terminal {
		fmt.Fprintf(s.w, "\r\x1b[2K %s%s\x1b[0m %s\n", color, mark, s.current)
	} else {
		fmt.Fprintf(s.w, " %s %s\n", mark, s.current)
	}
	s.current = ""
}
