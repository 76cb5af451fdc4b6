// Package printers holds the server-side table columns, rows and selectable
// fields of the resources kubelab serves, as upstream's
// pkg/printers/internalversion and each registry's ToSelectableFields define
// them. kubectl asks for Table output and prints exactly these cells.
//
// Rows are always the wide form: the API server sends every column and
// kubectl drops the Priority 1 columns unless -o wide is given, as upstream's
// server does (it generates tables with Wide set).
package printers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Placeholders upstream prints for missing values.
const (
	none    = "<none>"
	unknown = "<unknown>"
	unset   = "<unset>"
)

// Column descriptions shared by several resources.
const (
	containersDescription = "Names of each container in the template."
	imagesDescription     = "Images referenced by each container in the template."
)

var objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()

// nameColumn is the Name column every table starts with.
var nameColumn = metav1.TableColumnDefinition{
	Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"],
}

// ageColumn is the Age column most tables carry.
var ageColumn = metav1.TableColumnDefinition{
	Name: "Age", Type: "string", Description: objectMetaDoc["creationTimestamp"],
}

// column returns a normal-priority column.
func column(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// wideColumn returns a Priority 1 column, shown by kubectl only with -o wide.
func wideColumn(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Priority: 1, Description: description}
}

// containerColumns are the wide Containers, Images and Selector columns of
// the workload resources.
func containerColumns(selectorDescription string) []metav1.TableColumnDefinition {
	return []metav1.TableColumnDefinition{
		wideColumn("Containers", "string", containersDescription),
		wideColumn("Images", "string", imagesDescription),
		wideColumn("Selector", "string", selectorDescription),
	}
}

// age formats the time since t as upstream's translateTimestampSince does.
func age(t metav1.Time) string {
	if t.IsZero() {
		return unknown
	}
	return duration.HumanDuration(time.Since(t.Time))
}

// microAge is age for a MicroTime.
func microAge(t metav1.MicroTime) string {
	if t.IsZero() {
		return unknown
	}
	return duration.HumanDuration(time.Since(t.Time))
}

// containerCells lays out container names and images on one line each, as
// upstream's layoutContainerCells does.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	im := make([]string, len(containers))
	for i, c := range containers {
		n[i], im[i] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

// listWithMore joins the first entries of a list and says how many more
// there were ("a,b,c + 2 more..."), or "<unset>" for an empty list.
func listWithMore(list []string, more bool, count, limit int) string {
	ret := strings.Join(list, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", ret, count-limit)
	}
	if ret == "" {
		return unset
	}
	return ret
}

// int32Or returns *p, or def when p is nil.
func int32Or(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
