package main

// A pod's network identity for the policy engine lasts as long as its processes may run, not only as
// long as its API object exists.
//
// kube-network-policies knows a pod by its API object: once the object is gone, the pod's address
// matches no policy, so every *new* connection from it or to it is dropped. A force delete (grace 0)
// removes the object at once while the kubelet still runs the pod's preStop hook and stops its
// containers with their own grace period (kubernetes/kubernetes#110507): for those seconds the pod
// runs, cut off. Measured on this lab: a force-deleted Patroni leader that happened to need a new
// connection to etcd while it shut down could not release its leader key, which then expired after
// ttl (3 of 20 pg-leader-force trials, write gap 5.3-11.1 s instead of ~3 s), and a force-deleted
// Redis master could no longer reach the sentinels to hand over.
//
// Engines that manage the pod network themselves (Calico's CNI, Cilium) keep a pod's endpoint until
// its sandbox is torn down. This informer gives the lab the same behaviour: a pod deleted while its
// last known status still showed a running container stays in the engine's cache, with its labels
// and address, for the time the kubelet may still let it run (its terminationGracePeriodSeconds plus
// a margin), then goes. A pod whose containers had all stopped goes at once. In the cache it is a
// stand-in under a name of its own (see lingering).
// LINGER_DELETED_PODS=false turns this off (kind's own kindnetd behaves that way).
//
// Limits: the engine's cache is rebuilt from a fresh list when its watch has to start over, and a
// lingering pod is then dropped at once; a pod on a node that is lost is kept for its grace period
// too, which is harmless (it sends nothing).

import (
	"context"
	"fmt"
	"log"
	"sort"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
)

// lingerMargin is added to a pod's grace period: the kubelet notices the deletion through its own
// watch, runs the preStop hook within the grace period, then stops the containers.
const lingerMargin = 10 * time.Second

// lingerFor says how long a pod deleted in state `pod` may still run: zero when its last known status
// shows no running container.
func lingerFor(pod *v1.Pod) time.Duration {
	if pod.Spec.HostNetwork || pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
		return 0
	}
	running := false
	for _, c := range pod.Status.ContainerStatuses {
		if c.State.Running != nil {
			running = true
		}
	}
	if !running {
		return 0
	}
	grace := int64(30) // the API's default
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	return time.Duration(grace)*time.Second + lingerMargin
}

type lingeringPods struct{ informer cache.SharedIndexInformer }

func (p lingeringPods) Informer() cache.SharedIndexInformer { return p.informer }
func (p lingeringPods) Lister() listersv1.PodLister {
	return listersv1.NewPodLister(p.informer.GetIndexer())
}

// newLingeringPodInformer registers in `factory` the pod informer described above.
func newLingeringPodInformer(ctx context.Context, factory informers.SharedInformerFactory) coreinformers.PodInformer {
	informer := factory.InformerFor(&v1.Pod{}, func(client kubernetes.Interface, resync time.Duration) cache.SharedIndexInformer {
		lw := &cache.ListWatch{
			ListFunc: func(opts metav1.ListOptions) (runtime.Object, error) {
				return client.CoreV1().Pods(metav1.NamespaceAll).List(ctx, opts)
			},
			WatchFunc: func(opts metav1.ListOptions) (watch.Interface, error) {
				w, err := client.CoreV1().Pods(metav1.NamespaceAll).Watch(ctx, opts)
				if err != nil {
					return nil, err
				}
				return newLingerWatch(w, lingerFor), nil
			},
		}
		return cache.NewSharedIndexInformer(lw, &v1.Pod{}, resync,
			cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	})
	return lingeringPods{informer}
}

// lingerWatch passes a pod watch through; when a pod that may still run is deleted, it also adds a
// stand-in for it (lingering) at once and deletes the stand-in `linger(pod)` later.
// lingering is the copy of a deleted pod that stands for it while it may still run. It has a name of
// its own: the cache is keyed by namespace/name, and a StatefulSet creates the pod's successor under
// the same name within milliseconds (with no address yet), which would otherwise replace it there.
// Its phase is Failed, so that a running pod given the same address meanwhile wins the engine's lookup.
func lingering(pod *v1.Pod) *v1.Pod {
	kept := pod.DeepCopy()
	kept.Name = fmt.Sprintf("%s.deleted-%s", pod.Name, string(pod.UID)[:8])
	if kept.DeletionTimestamp == nil {
		now := metav1.Now()
		kept.DeletionTimestamp = &now
	}
	kept.Status.Phase = v1.PodFailed
	return kept
}

type lingerWatch struct {
	src    watch.Interface
	out    chan watch.Event
	stop   chan struct{}
	linger func(*v1.Pod) time.Duration
}

func newLingerWatch(src watch.Interface, linger func(*v1.Pod) time.Duration) *lingerWatch {
	w := &lingerWatch{src: src, out: make(chan watch.Event), stop: make(chan struct{}), linger: linger}
	go w.run()
	return w
}

func (w *lingerWatch) ResultChan() <-chan watch.Event { return w.out }

func (w *lingerWatch) Stop() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
		w.src.Stop()
	}
}

func (w *lingerWatch) run() {
	defer close(w.out)
	type held struct {
		pod *v1.Pod
		at  time.Time
	}
	var pending []held
	lastVersion := ""
	send := func(e watch.Event) bool {
		select {
		case w.out <- e:
			return true
		case <-w.stop:
			return false
		}
	}
	for {
		var due <-chan time.Time
		var timer *time.Timer
		if len(pending) > 0 {
			timer = time.NewTimer(time.Until(pending[0].at))
			due = timer.C
		}
		select {
		case <-w.stop:
			if timer != nil {
				timer.Stop()
			}
			return
		case e, ok := <-w.src.ResultChan():
			if timer != nil {
				timer.Stop()
			}
			if !ok {
				return
			}
			if m, err := meta.Accessor(e.Object); err == nil && e.Type != watch.Error {
				lastVersion = m.GetResourceVersion()
			}
			if pod, isPod := e.Object.(*v1.Pod); isPod && e.Type == watch.Deleted {
				if d := w.linger(pod); d > 0 {
					kept := lingering(pod)
					log.Printf("network policies: pod %s/%s was deleted while it ran; its address %s keeps its identity for up to %s (as %s)",
						pod.Namespace, pod.Name, pod.Status.PodIP, d, kept.Name)
					if !send(watch.Event{Type: watch.Added, Object: kept}) {
						return
					}
					pending = append(pending, held{kept, time.Now().Add(d)})
					sort.Slice(pending, func(i, j int) bool { return pending[i].at.Before(pending[j].at) })
				}
			}
			if !send(e) {
				return
			}
		case <-due:
			gone := pending[0].pod.DeepCopy()
			pending = pending[1:]
			// The newest version seen, so that the informer never resumes its watch from an older one.
			gone.ResourceVersion = lastVersion
			if !send(watch.Event{Type: watch.Deleted, Object: gone}) {
				return
			}
		}
	}
}
