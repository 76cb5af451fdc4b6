package supervisor_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kubelab/kubelab/components/supervisor"
)

func TestLogFileRotation(t *testing.T) {
	tests := []struct {
		name      string
		backups   int
		wantFiles []string
		wantGone  []string
	}{
		{"two backups", 2, []string{"p.log", "p.log.1", "p.log.2"}, []string{"p.log.3"}},
		{"no backups: truncated", 0, []string{"p.log"}, []string{"p.log.1"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			l, err := supervisor.OpenLogFile(filepath.Join(dir, "sub", "p.log"), 100, tt.backups)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			for i := range 40 { // 40 lines of 10 bytes
				fmt.Fprintf(l, "line %04d\n", i)
			}
			for _, f := range tt.wantFiles {
				st, err := os.Stat(filepath.Join(dir, "sub", f))
				if err != nil || st.Size() > 100 {
					t.Errorf("%s: %v (size %v)", f, err, st)
				}
			}
			for _, f := range tt.wantGone {
				if _, err := os.Stat(filepath.Join(dir, "sub", f)); !os.IsNotExist(err) {
					t.Errorf("%s exists: %v", f, err)
				}
			}
			var tail bytes.Buffer
			if _, err := l.Tail(&tail, 20); err != nil || tail.String() != "line 0038\nline 0039\n" {
				t.Errorf("tail %q, %v", tail.String(), err)
			}
			cur, _ := os.ReadFile(l.Path())
			if !strings.HasSuffix(string(cur), "line 0039\n") || len(cur) != 100 {
				t.Errorf("current log %q", cur)
			}
		})
	}
}

func TestLogFileAppendsAcrossOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	for _, s := range []string{"one\n", "two\n"} {
		l, err := supervisor.OpenLogFile(path, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprint(l, s)
		l.Close()
	}
	if b, _ := os.ReadFile(path); string(b) != "one\ntwo\n" {
		t.Errorf("log %q", b)
	}
}
