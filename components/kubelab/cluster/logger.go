package cluster

import (
	"fmt"
	"io"
	"strings"
	"sync"

	kindlog "sigs.k8s.io/kind/pkg/log"
)

// logger is kind's log.Logger writing user-facing lines to w, as kind's
// CLI does: V(0) messages and warnings; more verbose levels up to verbosity.
type logger struct {
	mu        *sync.Mutex
	w         io.Writer
	verbosity kindlog.Level
}

var _ kindlog.Logger = logger{}

func newLogger(w io.Writer, verbosity int) logger {
	return logger{mu: &sync.Mutex{}, w: w, verbosity: kindlog.Level(verbosity)}
}

func (l logger) print(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !strings.HasSuffix(msg, "\n") {
		msg += "\n"
	}
	fmt.Fprint(l.w, msg)
}

// Warn prints a warning.
func (l logger) Warn(message string) { l.print("WARNING: " + message) }

// Warnf prints a formatted warning.
func (l logger) Warnf(format string, args ...any) { l.Warn(fmt.Sprintf(format, args...)) }

// Error prints an error.
func (l logger) Error(message string) { l.print("ERROR: " + message) }

// Errorf prints a formatted error.
func (l logger) Errorf(format string, args ...any) { l.Error(fmt.Sprintf(format, args...)) }

// V returns the info logger of level v.
func (l logger) V(v kindlog.Level) kindlog.InfoLogger {
	return infoLogger{l: l, enabled: v <= l.verbosity}
}

type infoLogger struct {
	l       logger
	enabled bool
}

func (i infoLogger) Info(message string) {
	if i.enabled {
		i.l.print(message)
	}
}

func (i infoLogger) Infof(format string, args ...any) {
	if i.enabled {
		i.l.print(fmt.Sprintf(format, args...))
	}
}

func (i infoLogger) Enabled() bool { return i.enabled }
