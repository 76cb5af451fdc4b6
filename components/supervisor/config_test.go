package supervisor_test

import (
	"os"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubelab/kubelab/components/supervisor"
	"github.com/kubelab/kubelab/components/supervisor/nodeprep"
)

func TestParseConfigDefaultsAndValues(t *testing.T) {
	cfg, err := supervisor.ParseConfig([]byte(`
log_dir: /tmp/logs
node:
  skip: [cgroups, kmsg]
  sysctls: {net.ipv4.conf.all.rp_filter: "0"}
programs:
- name: a
  command: [/bin/true]
- name: b
  command: [sh, -c, "exit 3"]
  environment: {FOO: bar}
  directory: /tmp
  priority: 5
  autostart: false
  autorestart: TRUE
  startsecs: 0.25
  startretries: 0
  exitcodes: [0, 3]
  stopsignal: int
  stopwaitsecs: 1m30s
  stopasgroup: true
  killasgroup: true
  depends_on: [a]
  wait_for: [{socket: /run/a.sock}, {file: /etc/a}, {tcp: "127.0.0.1:80"}]
  running_when: [{file: /run/b}]
  logfile: /var/log/bee.log
  logfile_maxbytes: 1KB
  logfile_backups: 0
`))
	if err != nil {
		t.Fatal(err)
	}
	want := &supervisor.Config{
		Socket: supervisor.DefaultSocket,
		LogDir: "/tmp/logs",
		Node: nodeprep.Config{Skip: []nodeprep.Step{nodeprep.StepCgroups, nodeprep.StepKmsg},
			Sysctls: map[string]string{"net.ipv4.conf.all.rp_filter": "0"}},
		Programs: []supervisor.Program{
			supervisor.NewProgram("a", "/tmp/logs", "/bin/true"),
			{
				Name: "b", Command: []string{"sh", "-c", "exit 3"}, Environment: map[string]string{"FOO": "bar"},
				Directory: "/tmp", Priority: 5, AutoStart: false, AutoRestart: supervisor.RestartAlways,
				StartSecs: 250 * time.Millisecond, StartRetries: 0, ExitCodes: []int{0, 3}, StopSignal: syscall.SIGINT,
				StopWait: 90 * time.Second, StopAsGroup: true, KillAsGroup: true, DependsOn: []string{"a"},
				WaitFor:     []supervisor.Condition{{Socket: "/run/a.sock"}, {File: "/etc/a"}, {TCP: "127.0.0.1:80"}},
				RunningWhen: []supervisor.Condition{{File: "/run/b"}},
				LogFile:     "/var/log/bee.log", LogFileMaxBytes: 1024, LogFileBackups: 0,
			},
		},
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("config:\n got %+v\nwant %+v", cfg, want)
	}
	a := cfg.Programs[0]
	if a.Priority != 999 || !a.AutoStart || a.AutoRestart != supervisor.RestartUnexpected || a.StartSecs != time.Second ||
		a.StartRetries != 3 || a.StopSignal != syscall.SIGTERM || a.StopWait != 10*time.Second ||
		a.LogFile != "/tmp/logs/a.log" || a.LogFileMaxBytes != 50<<20 || a.LogFileBackups != 10 {
		t.Errorf("defaults are not supervisord's: %+v", a)
	}
}

func TestParseConfigErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown top-level key", "programz: []", []string{"field programz not found"}},
		{"unknown program key", "programs:\n- name: a\n  command: [x]\n  autorestat: true\n", []string{"line 4: field autorestat not found"}},
		{"missing command", "programs:\n- name: a\n", []string{"programs[0] (a): command is required"}},
		{"command as a string", "programs:\n- name: a\n  command: /bin/sh -c x\n", []string{"line 3: command must be a list"}},
		{"missing name", "programs:\n- command: [x]\n", []string{"name is required"}},
		{"bad name", "programs:\n- name: a/b\n  command: [x]\n", []string{`name "a/b"`}},
		{"reserved name", "programs:\n- name: all\n  command: [x]\n", []string{`"all" is reserved`}},
		{"duplicate names", "programs:\n- name: a\n  command: [x]\n- name: a\n  command: [y]\n", []string{`programs[1]: duplicate program name "a"`}},
		{"autorestart", "programs:\n- name: a\n  command: [x]\n  autorestart: sometimes\n", []string{"line 4: autorestart must be true, false or unexpected"}},
		{"startsecs", "programs:\n- name: a\n  command: [x]\n  startsecs: soon\n", []string{`"soon" is not a number of seconds`}},
		{"negative startsecs", "programs:\n- name: a\n  command: [x]\n  startsecs: -1\n", []string{`"-1" is negative`}},
		{"negative startretries", "programs:\n- name: a\n  command: [x]\n  startretries: -1\n", []string{"startretries must not be negative"}},
		{"signal", "programs:\n- name: a\n  command: [x]\n  stopsignal: STOPPP\n", []string{`unknown signal "STOPPP"`}},
		{"size", "programs:\n- name: a\n  command: [x]\n  logfile_maxbytes: 5XB\n", []string{`"5XB" is not a size`}},
		{"exit code", "programs:\n- name: a\n  command: [x]\n  exitcodes: [256]\n", []string{"exit code 256"}},
		{"unknown dependency", "programs:\n- name: a\n  command: [x]\n  depends_on: [b]\n", []string{`depends_on "b": no such program`}},
		{"dependency not autostarted", "programs:\n- name: a\n  command: [x]\n  depends_on: [b]\n- name: b\n  command: [x]\n  autostart: false\n", []string{`depends_on "b", which does not autostart`}},
		{"cycle", "programs:\n- name: a\n  command: [x]\n  depends_on: [b]\n- name: b\n  command: [x]\n  depends_on: [a]\n", []string{"depends_on cycle: [a b a]"}},
		{"condition with two kinds", "programs:\n- name: a\n  command: [x]\n  wait_for: [{socket: /a, file: /b}]\n", []string{"exactly one of socket, file and tcp"}},
		{"relative condition", "programs:\n- name: a\n  command: [x]\n  running_when: [{file: a}]\n", []string{"condition file a: path must be absolute"}},
		{"bad tcp", "programs:\n- name: a\n  command: [x]\n  wait_for: [{tcp: localhost}]\n", []string{"condition tcp localhost"}},
		{"ready without autostart", "programs:\n- name: a\n  command: [x]\n  autostart: false\n  ready: true\n", []string{"ready: true needs autostart: true"}},
		{"relative socket", "socket: sock\n", []string{`socket "sock" must be an absolute path`}},
		{"node step", "node: {skip: [cgroupz]}\n", []string{`node: unknown step "cgroupz"`}},
		{"every problem at once", "programs:\n- name: a\n- name: b\n  command: [x]\n  startretries: -2\n",
			[]string{"programs[0] (a): command is required", "programs[1] (b): startretries must not be negative"}},
		{"not yaml", "programs: [", []string{"parse supervisor config"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := supervisor.ParseConfig([]byte(tt.yaml))
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestParseConfigEmpty(t *testing.T) {
	cfg, err := supervisor.ParseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Socket != supervisor.DefaultSocket || cfg.LogDir != supervisor.DefaultLogDir || len(cfg.Programs) != 0 {
		t.Errorf("empty config: %+v", cfg)
	}
}

// TestNodeConfig checks the example node config shipped in testdata.
func TestNodeConfig(t *testing.T) {
	cfg, err := supervisor.LoadConfig("testdata/node.yaml")
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]supervisor.Program{}
	for _, p := range cfg.Programs {
		names[p.Name] = p
	}
	c, k := names["containerd"], names["kubelet"]
	if !c.Ready || len(c.RunningWhen) == 0 || c.RunningWhen[0].Socket != "/run/containerd/containerd.sock" {
		t.Errorf("containerd should be ready once its socket answers: %+v", c)
	}
	if k.Priority <= c.Priority || len(k.DependsOn) != 1 || k.DependsOn[0] != "containerd" {
		t.Errorf("kubelet should start after containerd: %+v", k)
	}
	if _, err := supervisor.LoadConfig("testdata/missing.yaml"); err == nil || !os.IsNotExist(err) && !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file: %v", err)
	}
}

func TestParseSignal(t *testing.T) {
	for in, want := range map[string]syscall.Signal{"TERM": syscall.SIGTERM, "sigkill": syscall.SIGKILL, "HUP": syscall.SIGHUP,
		"15": syscall.SIGTERM, "QUIT": syscall.SIGQUIT, "USR1": syscall.SIGUSR1} {
		if got, err := supervisor.ParseSignal(in); err != nil || got != want {
			t.Errorf("ParseSignal(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "NOPE", "0", "99"} {
		if _, err := supervisor.ParseSignal(in); err == nil {
			t.Errorf("ParseSignal(%q) succeeded", in)
		}
	}
}
