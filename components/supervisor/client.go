package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
)

// Client talks to a running supervisor over its control socket, as
// supervisorctl does; its errors wrap the package's Err* values.
type Client struct {
	http *http.Client
}

// NewClient returns a client of the supervisor listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	return &Client{http: &http.Client{Transport: tr}}
}

// Status returns every program's status.
func (c *Client) Status(ctx context.Context) ([]ProgramStatus, error) {
	var out []ProgramStatus
	if err := c.call(ctx, http.MethodGet, "/v1/status", &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Start starts a program; with wait, once it is RUNNING.
func (c *Client) Start(ctx context.Context, name string, wait bool) (ProgramStatus, error) {
	return c.action(ctx, name, "start", wait)
}

// Stop stops a program and waits until it is STOPPED.
func (c *Client) Stop(ctx context.Context, name string) (ProgramStatus, error) {
	return c.action(ctx, name, "stop", true)
}

// Restart stops a program if it runs and starts it again.
func (c *Client) Restart(ctx context.Context, name string, wait bool) (ProgramStatus, error) {
	return c.action(ctx, name, "restart", wait)
}

func (c *Client) action(ctx context.Context, name, action string, wait bool) (ProgramStatus, error) {
	var st ProgramStatus
	path := "/v1/programs/" + url.PathEscape(name) + "/" + action + "?wait=" + strconv.FormatBool(wait)
	err := c.call(ctx, http.MethodPost, path, &st)
	return st, err
}

// Tail copies the last n bytes of a program's log to w; with follow, it
// goes on copying what the program writes until ctx ends.
func (c *Client) Tail(ctx context.Context, name string, n int64, follow bool, w io.Writer) error {
	path := fmt.Sprintf("/v1/programs/%s/log?bytes=%d&follow=%t", url.PathEscape(name), n, follow)
	resp, err := c.do(ctx, http.MethodGet, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(w, resp.Body); err != nil && ctx.Err() == nil {
		return fmt.Errorf("tail %s: %w", name, err)
	}
	return nil
}

func (c *Client) call(ctx context.Context, method, path string, out any) error {
	resp, err := c.do(ctx, method, path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("supervisor: decode %s: %w", path, err)
	}
	return nil
}

// do sends a request and turns an error response into an error.
func (c *Client) do(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://supervisor"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("supervisor: %w", err)
	}
	if resp.StatusCode < 300 {
		return resp, nil
	}
	defer resp.Body.Close()
	var ce controlError
	if err := json.NewDecoder(resp.Body).Decode(&ce); err != nil {
		return nil, fmt.Errorf("supervisor: %s", resp.Status)
	}
	for _, e := range errorReasons {
		if e.reason == ce.Reason {
			return nil, &remoteError{msg: ce.Error, err: e.err}
		}
	}
	return nil, errors.New(ce.Error)
}

// remoteError is an error the supervisor returned, matching the local
// sentinel with errors.Is.
type remoteError struct {
	msg string
	err error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.err }
