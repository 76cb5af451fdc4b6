package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

// The client subcommands run inside a pod (through exec) against pods and
// services: http-get and udp-request print one answer a line, connect
// prints how a TCP connection attempt ended.

// Exit codes of connect, one per outcome (agnhost's connect has the same
// idea): a script or an e2e spec tells a refusal from a hang without
// parsing text.
const (
	connectOK          = 0
	connectRefused     = 1
	connectTimeout     = 2
	connectUnreachable = 3
	connectOther       = 4
)

// maxAnswer bounds an answer read by the clients.
const maxAnswer = 1 << 20

func newHTTPGetCommand() *cobra.Command {
	var count int
	var timeout, interval time.Duration
	cmd := &cobra.Command{
		Use:   "http-get URL",
		Short: "GET URL --count times, each on a new connection, printing each 200 answer's body on a line",
		Long: "http-get sends --count GET requests to URL, each on a new TCP connection (so that a\n" +
			"service may pick another backend every time), and prints each answer's body, with\n" +
			"its trailing newline removed, on a line of its own. A failed request (no answer\n" +
			"within --timeout, or a status other than 200) is reported on standard error and\n" +
			"makes the exit code 1, after every request was tried.",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			u, err := url.Parse(args[0])
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return fmt.Errorf("URL %q: want http://HOST:PORT/PATH", args[0])
			}
			if count < 1 {
				return fmt.Errorf("--count %d: must be at least 1", count)
			}
			client := &http.Client{
				Timeout:   timeout,
				Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil},
			}
			return repeat(cmd, "request", "requests failed", count, interval, func(ctx context.Context) (string, error) {
				return httpGet(ctx, client, u.String())
			})
		},
	}
	cmd.Flags().IntVar(&count, "count", 1, "number of requests")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "timeout of each request")
	cmd.Flags().DurationVar(&interval, "interval", 0, "pause between requests")
	return cmd
}

// httpGet returns the body of a 200 answer to a GET of u.
func httpGet(ctx context.Context, client *http.Client, u string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return "", fmt.Errorf("read the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s: %q", resp.Status, body)
	}
	return string(body), nil
}

func newUDPRequestCommand() *cobra.Command {
	var count int
	var timeout, interval time.Duration
	cmd := &cobra.Command{
		Use:   "udp-request HOST:PORT MESSAGE",
		Short: "Send MESSAGE in a datagram --count times, each from a new socket, printing each answer on a line",
		Long: "udp-request sends MESSAGE (e.g. \"hostname\" or \"echo hi\" to netexec's UDP server)\n" +
			"--count times, each from a new socket (a new source port, so that a service may pick\n" +
			"another backend every time), waits up to --timeout for the answer and prints it on a\n" +
			"line of its own. A datagram without an answer is reported on standard error and makes\n" +
			"the exit code 1, after every datagram was tried.",
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := net.SplitHostPort(args[0]); err != nil {
				return fmt.Errorf("address %q: %w", args[0], err)
			}
			if count < 1 {
				return fmt.Errorf("--count %d: must be at least 1", count)
			}
			return repeat(cmd, "datagram", "datagrams got no answer", count, interval, func(ctx context.Context) (string, error) {
				return udpRequest(ctx, args[0], args[1], timeout)
			})
		},
	}
	cmd.Flags().IntVar(&count, "count", 1, "number of datagrams")
	cmd.Flags().DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for each answer")
	cmd.Flags().DurationVar(&interval, "interval", 0, "pause between datagrams")
	return cmd
}

// udpRequest sends msg to addr from a new socket and returns the answer.
func udpRequest(ctx context.Context, addr, msg string, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "udp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := c.SetDeadline(dl); err != nil {
			return "", err
		}
	}
	if _, err := c.Write([]byte(msg)); err != nil {
		return "", fmt.Errorf("send: %w", err)
	}
	buf := make([]byte, 64*1024)
	n, err := c.Read(buf)
	if err != nil {
		return "", fmt.Errorf("receive: %w", err)
	}
	return string(buf[:n]), nil
}

func newConnectCommand() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "connect HOST:PORT",
		Short: "Try one TCP connection and print how it ended: connected, refused, timeout, unreachable or error",
		Long: "connect opens a TCP connection to HOST:PORT, closes it at once, and prints the outcome\n" +
			"as its first word, with the error after it:\n" +
			"  connected     exit code 0\n" +
			"  refused       exit code 1 (a RST or ICMP port unreachable: nothing listens, or a\n" +
			"                service without endpoints rejects)\n" +
			"  timeout       exit code 2 (no answer within --timeout: packets dropped)\n" +
			"  unreachable   exit code 3 (no route, ICMP host or network unreachable)\n" +
			"  error         exit code 4 (anything else)",
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, _, err := net.SplitHostPort(args[0]); err != nil {
				return fmt.Errorf("address %q: %w", args[0], err)
			}
			start := time.Now()
			d := net.Dialer{Timeout: timeout}
			c, err := d.DialContext(cmd.Context(), "tcp", args[0])
			elapsed := time.Since(start).Round(time.Millisecond)
			if err == nil {
				c.Close()
			}
			word, code := classifyDial(err)
			if err != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%s after %s: %v\n", word, elapsed, err)
			} else {
				fmt.Fprintf(cmd.OutOrStdout(), "%s after %s\n", word, elapsed)
			}
			if code != connectOK {
				return &ExitError{Code: code}
			}
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Second, "how long to wait for the connection")
	return cmd
}

// classifyDial names the outcome of a TCP dial and its exit code.
func classifyDial(err error) (string, int) {
	var nerr net.Error
	switch {
	case err == nil:
		return "connected", connectOK
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused", connectRefused
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ETIMEDOUT), errors.As(err, &nerr) && nerr.Timeout():
		return "timeout", connectTimeout
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "unreachable", connectUnreachable
	default:
		return "error", connectOther
	}
}

// sleepCtx waits d, or less when ctx ends first (then false).
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// repeat runs one count times, interval apart, printing each answer on a
// line of its own and each error as "<what> N: err"; any failure makes
// the exit code 1 after "F of N <failed>".
func repeat(cmd *cobra.Command, what, failedMsg string, count int, interval time.Duration, one func(context.Context) (string, error)) error {
	failed := 0
	for i := range count {
		if i > 0 && !sleepCtx(cmd.Context(), interval) {
			return cmd.Context().Err()
		}
		answer, err := one(cmd.Context())
		if err != nil {
			failed++
			fmt.Fprintf(cmd.ErrOrStderr(), "%s %d: %v\n", what, i+1, err)
			continue
		}
		fmt.Fprintln(cmd.OutOrStdout(), strings.TrimSuffix(answer, "\n"))
	}
	if failed > 0 {
		fmt.Fprintf(cmd.ErrOrStderr(), "%d of %d %s\n", failed, count, failedMsg)
		return &ExitError{Code: 1}
	}
	return nil
}
