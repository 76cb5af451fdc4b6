package controllermanager

import "testing"

func TestSelected(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    []string
		wantErr bool
	}{
		{[]string{"namespace"}, []string{"namespace"}, false},
		{[]string{"*", "-namespace"}, nil, false},
		{[]string{"bogus"}, nil, true},
	} {
		got, err := selected(tc.in)
		if (err != nil) != tc.wantErr {
			t.Fatalf("%v: err %v", tc.in, err)
		}
		if tc.want != nil && (len(got) != len(tc.want) || got[0] != tc.want[0]) {
			t.Fatalf("%v: got %v", tc.in, got)
		}
		if tc.in[0] == "*" {
			for _, n := range got {
				if n == "namespace" {
					t.Fatalf("excluded controller selected: %v", got)
				}
			}
		}
	}
}
