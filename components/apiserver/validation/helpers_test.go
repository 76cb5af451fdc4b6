package validation

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// want is one expected error: its type and field path.
type want struct {
	typ  field.ErrorType
	path string
}

func (w want) String() string { return fmt.Sprintf("%s %s", w.typ, w.path) }

func keys(errs field.ErrorList) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, want{e.Type, e.Field}.String())
	}
	slices.Sort(out)
	return out
}

// expect fails unless errs holds exactly the wanted errors, in any order.
func expect(t *testing.T, errs field.ErrorList, wants ...want) {
	t.Helper()
	exp := make([]string, 0, len(wants))
	for _, w := range wants {
		exp = append(exp, w.String())
	}
	slices.Sort(exp)
	if got := keys(errs); !slices.Equal(got, exp) {
		t.Errorf("errors:\n  got  %v\n  want %v\n  full: %v", got, exp, errs.ToAggregate())
	}
}

// expectMessage fails unless some error's full text contains msg.
func expectMessage(t *testing.T, errs field.ErrorList, msg string) {
	t.Helper()
	for _, e := range errs {
		if strings.Contains(e.Error(), msg) {
			return
		}
	}
	t.Errorf("no error contains %q in %v", msg, errs.ToAggregate())
}

func isRequired(p string) want     { return want{field.ErrorTypeRequired, p} }
func isInvalid(p string) want      { return want{field.ErrorTypeInvalid, p} }
func isDuplicate(p string) want    { return want{field.ErrorTypeDuplicate, p} }
func isForbidden(p string) want    { return want{field.ErrorTypeForbidden, p} }
func isNotSupported(p string) want { return want{field.ErrorTypeNotSupported, p} }
func isNotFound(p string) want     { return want{field.ErrorTypeNotFound, p} }
func isTooLong(p string) want      { return want{field.ErrorTypeTooLong, p} }
func isTooMany(p string) want      { return want{field.ErrorTypeTooMany, p} }
