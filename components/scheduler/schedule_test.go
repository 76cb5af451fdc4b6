package scheduler

import (
	"strings"
	"testing"
)

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		nodes   int
		percent int32
		want    int
	}{
		{10, 0, 10},
		{99, 0, 99},
		{100, 0, 100},
		{1000, 0, 420},   // 50% - 8%
		{5000, 0, 500},   // 50% - 40% = 10%
		{6000, 0, 300},   // 50% - 48% = 2%, raised to 5%
		{20000, 0, 1000}, // 5%
		{5000, 1, 100},   // at least 100
		{5000, 50, 2500},
	}
	for _, tt := range tests {
		s := &Scheduler{opts: Options{PercentageOfNodesToScore: tt.percent}}
		if got := s.numFeasibleNodesToFind(tt.nodes); got != tt.want {
			t.Errorf("%d nodes at %d%%: %d, want %d", tt.nodes, tt.percent, got, tt.want)
		}
	}
}

func TestTruncateMessage(t *testing.T) {
	long := strings.Repeat("x", 2000)
	tests := []struct {
		in, want string
	}{
		{"short", "short"},
		{strings.Repeat("y", 1024), strings.Repeat("y", 1024)},
		{long, strings.Repeat("x", 1020) + " ..."},
	}
	for _, tt := range tests {
		if got := truncateMessage(tt.in); got != tt.want {
			t.Errorf("truncate(%d chars) = %d chars", len(tt.in), len(got))
		}
	}
}
