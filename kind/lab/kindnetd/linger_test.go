package main

import (
	"testing"
	"time"

	v1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
)

func runningPod(name, uid, ip, version string) *v1.Pod {
	grace := int64(1)
	return &v1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: name, UID: types.UID(uid), ResourceVersion: version, Labels: map[string]string{"app": "db"}},
		Spec:       v1.PodSpec{TerminationGracePeriodSeconds: &grace},
		Status: v1.PodStatus{Phase: v1.PodRunning, PodIP: ip, PodIPs: []v1.PodIP{{IP: ip}},
			ContainerStatuses: []v1.ContainerStatus{{Name: "c", State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}}}},
	}
}

func next(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case e := <-w.ResultChan():
		return e
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5 s")
		return watch.Event{}
	}
}

func describe(e watch.Event) string {
	p := e.Object.(*v1.Pod)
	return string(e.Type) + " " + p.Name + " " + string(p.Status.Phase) + " rv=" + p.ResourceVersion
}

// A force-deleted pod that still runs: a stand-in under its own name comes first and stays while the
// pod may run; the real deletion passes through, so its same-name successor is not shadowed, and the
// stand-in's later deletion never removes that successor.
func TestForceDeletedPodLingersBesideItsSuccessor(t *testing.T) {
	src := watch.NewFake()
	w := newLingerWatch(src, func(p *v1.Pod) time.Duration { return lingerFor(p) - lingerMargin })
	defer w.Stop()

	old := runningPod("db-0", "aaaaaaaa-1111", "10.0.0.5", "10")
	go src.Delete(old)
	got := []string{describe(next(t, w)), describe(next(t, w))}
	want := []string{"ADDED db-0.deleted-aaaaaaaa Failed rv=10", "DELETED db-0 Running rv=10"}
	if got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("on the deletion: got %q, want %q", got, want)
	}

	successor := runningPod("db-0", "bbbbbbbb-2222", "10.0.0.9", "11")
	go src.Add(successor)
	if e := describe(next(t, w)); e != "ADDED db-0 Running rv=11" {
		t.Fatalf("successor: got %q", e)
	}

	start := time.Now()
	e := next(t, w)
	if describe(e) != "DELETED db-0.deleted-aaaaaaaa Failed rv=11" {
		t.Fatalf("the stand-in's end: got %q", describe(e))
	}
	if waited := time.Since(start); waited < 700*time.Millisecond {
		t.Fatalf("the stand-in went after %s, before the pod's grace period (1 s)", waited)
	}
}

// A pod deleted after its containers stopped (a graceful delete's last step) goes at once.
func TestStoppedPodGoesAtOnce(t *testing.T) {
	src := watch.NewFake()
	w := newLingerWatch(src, lingerFor)
	defer w.Stop()
	stopped := runningPod("db-1", "cccccccc-3333", "10.0.0.6", "12")
	stopped.Status.ContainerStatuses[0].State = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 0}}
	go src.Delete(stopped)
	if e := describe(next(t, w)); e != "DELETED db-1 Running rv=12" {
		t.Fatalf("got %q", e)
	}
	go src.Add(runningPod("db-2", "dddddddd-4444", "10.0.0.7", "13"))
	if e := describe(next(t, w)); e != "ADDED db-2 Running rv=13" {
		t.Fatalf("no stand-in expected before db-2's event, got %q", e)
	}
}

func TestLingerFor(t *testing.T) {
	p := runningPod("db-0", "eeeeeeee-5555", "10.0.0.8", "1")
	if d := lingerFor(p); d != time.Second+lingerMargin {
		t.Fatalf("running, grace 1 s: %s", d)
	}
	p.Spec.HostNetwork = true
	if d := lingerFor(p); d != 0 {
		t.Fatalf("host network: %s", d)
	}
}
