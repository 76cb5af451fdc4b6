package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

func newNetexecCommand() *cobra.Command {
	var httpPort, udpPort int
	cmd := &cobra.Command{
		Use:   "netexec",
		Short: "Serve HTTP (/, /echo, /hostname, /clientip, /healthz, /shell, /exit) and a UDP echo/hostname server",
		Long: "netexec serves on --http-port:\n" +
			"  /                 NOW: <time>\n" +
			"  /echo?msg=M       M\n" +
			"  /hostname         the hostname\n" +
			"  /clientip         the client's host:port\n" +
			"  /healthz          ok\n" +
			"  /shell?cmd=C      JSON {\"output\"} of a builtin: echo, hostname, env, cat FILE, ls DIR\n" +
			"  /exit?code=N      answers, then exits with code N\n" +
			"and on --udp-port (0 disables) answers 'hostname', 'echo M' and 'clientip' datagrams.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			host, err := os.Hostname()
			if err != nil {
				return fmt.Errorf("get hostname: %w", err)
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			exitCode := make(chan int, 1)
			h := netexecHandler(host, func(code int) {
				select {
				case exitCode <- code:
				default:
				}
				cancel()
			})
			errs := make(chan error, 2)
			n := 1
			go func() { errs <- serveHTTPUntil(ctx, ":"+strconv.Itoa(httpPort), h) }()
			if udpPort != 0 {
				n++
				go func() { errs <- serveUDPUntil(ctx, ":"+strconv.Itoa(udpPort), udpReply(host)) }()
			}
			slog.Info("netexec serving", "http-port", httpPort, "udp-port", udpPort)
			err = firstError(ctx, cancel, errs, n)
			select {
			case code := <-exitCode:
				if code != 0 {
					return &ExitError{Code: code}
				}
				return nil
			default:
				return err
			}
		},
	}
	cmd.Flags().IntVar(&httpPort, "http-port", 8080, "HTTP port")
	cmd.Flags().IntVar(&udpPort, "udp-port", 8081, "UDP port (0 disables UDP)")
	return cmd
}

// netexecHandler serves netexec's HTTP endpoints; exit is called by /exit
// after the response is written.
func netexecHandler(host string, exit func(code int)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "NOW: %v", time.Now())
	})
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.FormValue("msg"))
	})
	mux.HandleFunc("/hostname", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, host)
	})
	mux.HandleFunc("/clientip", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, r.RemoteAddr)
	})
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "ok")
	})
	mux.HandleFunc("/shell", func(w http.ResponseWriter, r *http.Request) {
		out, err := runBuiltin(r.FormValue("cmd"), host)
		res := map[string]string{"output": out}
		status := http.StatusOK
		if err != nil {
			res["error"] = err.Error()
			status = http.StatusExpectationFailed
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(res)
	})
	mux.HandleFunc("/exit", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.FormValue("code"))
		if err != nil || code < 0 || code > 127 {
			http.Error(w, "code must be an integer in [0, 127]", http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "exiting with code %d", code)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		exit(code)
	})
	return mux
}

// runBuiltin runs a small, shell-free command set: the image has no shell,
// and /shell must not become a way to run arbitrary programs.
func runBuiltin(cmdline, host string) (string, error) {
	fields := strings.Fields(cmdline)
	if len(fields) == 0 {
		return "", fmt.Errorf("empty command")
	}
	args := fields[1:]
	switch fields[0] {
	case "echo":
		return strings.Join(args, " ") + "\n", nil
	case "hostname":
		return host + "\n", nil
	case "env":
		return sortedEnv(), nil
	case "cat":
		var b strings.Builder
		for _, p := range args {
			data, err := os.ReadFile(p)
			if err != nil {
				return b.String(), fmt.Errorf("cat %s: %w", p, err)
			}
			b.Write(data)
		}
		return b.String(), nil
	case "ls":
		dir := "."
		if len(args) > 0 {
			dir = args[0]
		}
		entries, err := os.ReadDir(dir)
		if err != nil {
			return "", fmt.Errorf("ls %s: %w", dir, err)
		}
		names := make([]string, 0, len(entries))
		for _, e := range entries {
			names = append(names, e.Name())
		}
		sort.Strings(names)
		return strings.Join(names, "\n") + "\n", nil
	default:
		return "", fmt.Errorf("unsupported command %q (builtins: echo, hostname, env, cat, ls)", fields[0])
	}
}

// udpReply answers netexec's UDP protocol: "hostname", "echo MSG", "clientip".
func udpReply(host string) func(string, net.Addr) string {
	return func(msg string, from net.Addr) string {
		msg = strings.TrimRight(msg, "\r\n")
		switch {
		case msg == "hostname":
			return host
		case msg == "clientip":
			return from.String()
		case strings.HasPrefix(msg, "echo "):
			return strings.TrimPrefix(msg, "echo ")
		default:
			return "unknown command: " + msg
		}
	}
}
