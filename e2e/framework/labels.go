package framework

import (
	"github.com/onsi/ginkgo/v2"
)

// SIGDescribe is a Describe of a special interest group's specs: its text
// starts with "[sig-<sig>]" and it carries the label sig-<sig>, so both
// --focus and --label-filter select it, as upstream's e2e suite does.
func SIGDescribe(sig, text string, args ...any) bool {
	ginkgo.GinkgoHelper()
	return ginkgo.Describe("[sig-"+sig+"] "+text, append(args, ginkgo.Label("sig-"+sig))...)
}

// ConformanceIt is an It for behaviour every conformant cluster has: its
// text ends with "[Conformance]" and it carries the label Conformance.
func ConformanceIt(text string, args ...any) bool {
	ginkgo.GinkgoHelper()
	return ginkgo.It(text+" [Conformance]", append(args, ginkgo.Label("Conformance"))...)
}
