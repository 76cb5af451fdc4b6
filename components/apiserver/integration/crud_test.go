package integration

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// object is what every typed API object is.
type object interface {
	metav1.Object
	runtime.Object
}

// typedClient is the shape every client-go typed resource client shares.
type typedClient[T object, L runtime.Object] interface {
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	List(ctx context.Context, opts metav1.ListOptions) (L, error)
	Delete(ctx context.Context, name string, opts metav1.DeleteOptions) error
}

// resource is one served resource under test, made generic over its type.
type resource struct {
	name       string
	namespaced bool
	// create, update, get, list and delete call the typed client in ns
	// ("" for cluster-scoped resources); list returns the names.
	create func(ctx context.Context, ns string, obj object, opts metav1.CreateOptions) (object, error)
	update func(ctx context.Context, ns string, obj object, opts metav1.UpdateOptions) (object, error)
	get    func(ctx context.Context, ns, name string) (object, error)
	list   func(ctx context.Context, ns string) ([]string, error)
	delete func(ctx context.Context, ns, name string, opts metav1.DeleteOptions) error
	// fixture returns a valid new object for namespace ns, unnamed.
	fixture func(ns string) object
}

// typed adapts a typed client to a resource.
func typed[T object, L runtime.Object](name string, namespaced bool, client func(ns string) typedClient[T, L], fixture func(ns string) T) resource {
	return resource{
		name: name, namespaced: namespaced,
		create: func(ctx context.Context, ns string, obj object, o metav1.CreateOptions) (object, error) {
			return client(ns).Create(ctx, obj.(T), o)
		},
		update: func(ctx context.Context, ns string, obj object, o metav1.UpdateOptions) (object, error) {
			return client(ns).Update(ctx, obj.(T), o)
		},
		get: func(ctx context.Context, ns, name string) (object, error) {
			return client(ns).Get(ctx, name, metav1.GetOptions{})
		},
		list: func(ctx context.Context, ns string) ([]string, error) {
			l, err := client(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return nil, err
			}
			items, err := meta.ExtractList(l)
			if err != nil {
				return nil, err
			}
			var names []string
			for _, it := range items {
				names = append(names, it.(metav1.Object).GetName())
			}
			return names, nil
		},
		delete: func(ctx context.Context, ns, name string, o metav1.DeleteOptions) error {
			return client(ns).Delete(ctx, name, o)
		},
		fixture: func(ns string) object { return fixture(ns) },
	}
}

func TestCRUD(t *testing.T) {
	cp := start(t)
	ns := newNamespace(t, cp.Client, "crud")
	for _, r := range resources(cp.Client) {
		t.Run(r.name, func(t *testing.T) {
			testCRUD(t, r, ns)
		})
	}
}

func testCRUD(t *testing.T, r resource, ns string) {
	ctx := t.Context()
	if !r.namespaced {
		ns = ""
	}
	obj := r.fixture(ns)
	obj.SetName("crud-" + strings.ReplaceAll(r.name, ".", "-"))
	created, err := r.create(ctx, ns, obj, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if created.GetUID() == "" || created.GetCreationTimestamp().Time.IsZero() || created.GetResourceVersion() == "" {
		t.Errorf("create: uid %q creationTimestamp %v resourceVersion %q; want all set",
			created.GetUID(), created.GetCreationTimestamp(), created.GetResourceVersion())
	}
	if created.GetNamespace() != ns {
		t.Errorf("create: namespace %q, want %q", created.GetNamespace(), ns)
	}

	gen := r.fixture(ns)
	gen.SetGenerateName("gen-")
	generated, err := r.create(ctx, ns, gen, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create with generateName: %v", err)
	}
	if n := generated.GetName(); !strings.HasPrefix(n, "gen-") || len(n) != len("gen-")+5 || generated.GetGenerateName() != "gen-" {
		t.Errorf("generateName gen-: got name %q generateName %q", n, generated.GetGenerateName())
	}

	got, err := r.get(ctx, ns, created.GetName())
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if got.GetUID() != created.GetUID() || got.GetResourceVersion() != created.GetResourceVersion() {
		t.Errorf("get: uid %s rv %s, want %s %s", got.GetUID(), got.GetResourceVersion(), created.GetUID(), created.GetResourceVersion())
	}
	names, err := r.list(ctx, ns)
	if err != nil {
		t.Fatalf("list: %v", err)
	}
	if !contains(names, created.GetName()) || !contains(names, generated.GetName()) {
		t.Errorf("list %v lacks %s or %s", names, created.GetName(), generated.GetName())
	}

	got.SetLabels(map[string]string{"updated": "yes"})
	updated, err := r.update(ctx, ns, got, metav1.UpdateOptions{})
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if updated.GetLabels()["updated"] != "yes" || updated.GetResourceVersion() == got.GetResourceVersion() || updated.GetUID() != got.GetUID() {
		t.Errorf("update: labels %v rv %s (was %s) uid %s", updated.GetLabels(), updated.GetResourceVersion(), got.GetResourceVersion(), updated.GetUID())
	}

	testDryRun(t, r, ns, updated)
	testMissingNamespace(t, r)

	if err := r.delete(ctx, ns, created.GetName(), metav1.DeleteOptions{}); err != nil {
		t.Fatalf("delete: %v", err)
	}
	after, err := r.get(ctx, ns, created.GetName())
	switch {
	case r.name == "namespaces":
		// The kubernetes finalizer keeps a deleted namespace Terminating
		// until the namespace controller empties it.
		if err != nil || after.GetDeletionTimestamp() == nil {
			t.Errorf("deleted namespace: %v, deletionTimestamp %v; want it Terminating", err, after)
		}
	case r.name == "jobs.batch":
		// batch/v1 deletes orphan a job's pods by default: the garbage
		// collector's orphan finalizer keeps the job until it has run.
		if err != nil || after.GetDeletionTimestamp() == nil || !contains(after.GetFinalizers(), metav1.FinalizerOrphanDependents) {
			t.Errorf("deleted job: %v, %v; want a deletionTimestamp and the orphan finalizer", err, after)
		}
	case !apierrors.IsNotFound(err):
		t.Errorf("get after delete: %v, want NotFound", err)
	}
	err = r.delete(ctx, ns, "never-existed", metav1.DeleteOptions{})
	wantStatus(t, err, 404, metav1.StatusReasonNotFound)
}

// testDryRun checks that dryRun=All creates, updates and deletes nothing.
func testDryRun(t *testing.T, r resource, ns string, existing object) {
	ctx := t.Context()
	dry := []string{metav1.DryRunAll}
	obj := r.fixture(ns)
	obj.SetName("dry-run")
	out, err := r.create(ctx, ns, obj, metav1.CreateOptions{DryRun: dry})
	if err != nil {
		t.Fatalf("dry-run create: %v", err)
	}
	if out.GetName() != "dry-run" || out.GetUID() == "" {
		t.Errorf("dry-run create returned name %q uid %q", out.GetName(), out.GetUID())
	}
	if _, err := r.get(ctx, ns, "dry-run"); !apierrors.IsNotFound(err) {
		t.Errorf("dry-run create stored the object: get says %v", err)
	}

	changed := existing.DeepCopyObject().(object)
	changed.SetLabels(map[string]string{"dry": "run"})
	if _, err := r.update(ctx, ns, changed, metav1.UpdateOptions{DryRun: dry}); err != nil {
		t.Fatalf("dry-run update: %v", err)
	}
	if err := r.delete(ctx, ns, existing.GetName(), metav1.DeleteOptions{DryRun: dry}); err != nil {
		t.Fatalf("dry-run delete: %v", err)
	}
	got, err := r.get(ctx, ns, existing.GetName())
	if err != nil {
		t.Fatalf("get after dry runs: %v", err)
	}
	if got.GetResourceVersion() != existing.GetResourceVersion() || got.GetLabels()["dry"] != "" || got.GetDeletionTimestamp() != nil {
		t.Errorf("dry-run update or delete changed the object: rv %s -> %s, labels %v, deletionTimestamp %v",
			existing.GetResourceVersion(), got.GetResourceVersion(), got.GetLabels(), got.GetDeletionTimestamp())
	}
}

// testMissingNamespace checks that namespaced objects need their namespace.
func testMissingNamespace(t *testing.T, r resource) {
	if !r.namespaced {
		return
	}
	obj := r.fixture("no-such-namespace")
	obj.SetName("orphan")
	_, err := r.create(t.Context(), "no-such-namespace", obj, metav1.CreateOptions{})
	se := wantStatus(t, err, 404, metav1.StatusReasonNotFound)
	if d := se.ErrStatus.Details; d == nil || d.Kind != "namespaces" || d.Name != "no-such-namespace" {
		t.Errorf("missing namespace details %+v, want namespaces no-such-namespace", d)
	}
}

func TestTerminatingNamespace(t *testing.T) {
	cp := start(t)
	ctx := t.Context()
	ns := newNamespace(t, cp.Client, "doomed")
	if err := cp.Client.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := cp.Client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.Phase != "Terminating" || got.DeletionTimestamp == nil {
		t.Fatalf("deleted namespace phase %q deletionTimestamp %v, want Terminating", got.Status.Phase, got.DeletionTimestamp)
	}
	for _, r := range resources(cp.Client) {
		if !r.namespaced {
			continue
		}
		obj := r.fixture(ns)
		obj.SetName("late")
		_, err := r.create(ctx, ns, obj, metav1.CreateOptions{})
		se := wantStatus(t, err, 403, metav1.StatusReasonForbidden)
		found := false
		if d := se.ErrStatus.Details; d != nil {
			for _, c := range d.Causes {
				found = found || c.Type == "NamespaceTerminating"
			}
		}
		if !found {
			t.Errorf("%s in terminating namespace: details %+v lack a NamespaceTerminating cause", r.name, se.ErrStatus.Details)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
