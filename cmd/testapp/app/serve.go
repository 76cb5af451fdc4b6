package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
)

func newServeHostnameCommand() *cobra.Command {
	var port int
	var serveHTTP, serveUDP, serveTCP bool
	cmd := &cobra.Command{
		Use:   "serve-hostname",
		Short: "Answer every HTTP request (and, with --udp/--tcp, every UDP packet or TCP connection) with the hostname",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if serveHTTP && serveTCP {
				return errors.New("--http and --tcp share the port: pass --http=false with --tcp")
			}
			host, err := os.Hostname()
			if err != nil {
				return fmt.Errorf("get hostname: %w", err)
			}
			ctx, cancel := context.WithCancel(cmd.Context())
			defer cancel()
			errs := make(chan error, 3)
			addr := ":" + strconv.Itoa(port)
			n := 0
			if serveHTTP {
				n++
				go func() { errs <- serveHTTPUntil(ctx, addr, hostnameHandler(host)) }()
			}
			if serveUDP {
				n++
				go func() { errs <- serveUDPUntil(ctx, addr, func(string, net.Addr) string { return host }) }()
			}
			if serveTCP {
				n++
				go func() { errs <- serveTCPHostname(ctx, addr, host) }()
			}
			if n == 0 {
				return errors.New("nothing to serve: pass --http, --udp or --tcp")
			}
			slog.Info("serving hostname", "hostname", host, "port", port, "http", serveHTTP, "udp", serveUDP, "tcp", serveTCP)
			return firstError(ctx, cancel, errs, n)
		},
	}
	cmd.Flags().IntVar(&port, "port", 9376, "port to serve on")
	cmd.Flags().BoolVar(&serveHTTP, "http", true, "serve HTTP")
	cmd.Flags().BoolVar(&serveUDP, "udp", false, "serve UDP")
	cmd.Flags().BoolVar(&serveTCP, "tcp", false, "serve TCP (write the hostname and close)")
	return cmd
}

// hostnameHandler answers every request with host.
func hostnameHandler(host string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, host)
	})
}

// firstError waits for n servers; the first error (or the context's end)
// stops them all.
func firstError(ctx context.Context, cancel context.CancelFunc, errs <-chan error, n int) error {
	var first error
	for range n {
		err := <-errs
		if err != nil && first == nil {
			first = err
			cancel()
		}
	}
	if first == nil && ctx.Err() == nil {
		return nil
	}
	return first
}

// serveHTTPUntil serves h on addr until ctx ends, then shuts down gracefully.
func serveHTTPUntil(ctx context.Context, addr string, h http.Handler) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	return serveHTTPListener(ctx, ln, h)
}

func serveHTTPListener(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve HTTP on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(shutdownCtx)
	return nil
}

// serveUDPUntil answers each datagram on addr with reply(payload, from) until
// ctx ends.
func serveUDPUntil(ctx context.Context, addr string, reply func(string, net.Addr) string) error {
	pc, err := net.ListenPacket("udp", addr)
	if err != nil {
		return fmt.Errorf("listen on udp %s: %w", addr, err)
	}
	return serveUDPConn(ctx, pc, reply)
}

func serveUDPConn(ctx context.Context, pc net.PacketConn, reply func(string, net.Addr) string) error {
	go func() {
		<-ctx.Done()
		pc.Close()
	}()
	buf := make([]byte, 64*1024)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("read udp: %w", err)
		}
		if _, err := pc.WriteTo([]byte(reply(string(buf[:n]), from)), from); err != nil {
			slog.Warn("udp reply failed", "to", from, "err", err)
		}
	}
}

func serveTCPHostname(ctx context.Context, addr, host string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("listen on tcp %s: %w", addr, err)
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("accept: %w", err)
		}
		_, _ = c.Write([]byte(host))
		c.Close()
	}
}
