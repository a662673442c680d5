package main

// NetworkPolicy enforcement for the lab: the policy engine of sigs.k8s.io/kube-network-policies
// (its controller runs unchanged: informers, NetworkPolicy semantics, the nfnetlink_queue packet
// loop), with the rules that send packets to its queue written as iptables NFQUEUE rules.
//
// Why not its own rules: it installs nftables rules with a `queue` statement, and kernels built
// without CONFIG_NFT_QUEUE (the project's machines) reject them, so the upstream engine, like kind's
// own kindnetd, would enforce nothing there. The xt NFQUEUE target does exist on those kernels.
//
// The rules, in the mangle table's FORWARD (every pod's traffic crosses its node's FORWARD with the
// ptp CNI; kube-proxy's DNAT has already happened there, so the queued packet carries the real
// destination pod; kube-proxy never writes to mangle FORWARD):
//
//	-A FORWARD -j KIND-NETPOL                              (kept first)
//	-A KIND-NETPOL -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN
//	-A KIND-NETPOL -s <pod subnet> -j NFQUEUE --queue-num <n>
//	-A KIND-NETPOL -d <pod subnet> -j NFQUEUE --queue-num <n>
//
// So the first packet of every new connection from or to a pod gets a verdict from the controller.
// Without --queue-bypass the kernel drops packets no process is bound to receive: while the agent is
// down, new pod connections fail (fail closed); established ones go on. The agent never removes the
// rules. Traffic from the node itself (kubelet probes) does not cross FORWARD and is always allowed,
// as Kubernetes requires for a pod's own node.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/kube-network-policies/pkg/networkpolicy"
)

const (
	policyChain = "KIND-NETPOL"
	policyQueue = 100
)

// policyRules returns the iptables-restore input for the mangle table: the chain's rules and the
// jump to it. --noflush keeps every other chain; declaring the chain replaces its rules atomically.
func policyRules(podSubnet string) string {
	q := fmt.Sprintf("-j NFQUEUE --queue-num %d", policyQueue)
	return strings.Join([]string{
		"*mangle",
		":" + policyChain + " - [0:0]",
		"-A " + policyChain + " -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN",
		"-A " + policyChain + " -s " + podSubnet + " " + q,
		"-A " + policyChain + " -d " + podSubnet + " " + q,
		"COMMIT",
		"",
	}, "\n")
}

// ensurePolicyRules installs the chain and keeps the jump to it first in mangle FORWARD.
func ensurePolicyRules(podSubnet string) error {
	restore := exec.Command("iptables-restore", "-w", "5", "--noflush")
	restore.Stdin = strings.NewReader(policyRules(podSubnet))
	if out, err := restore.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore of %s: %v: %s", policyChain, err, strings.TrimSpace(string(out)))
	}
	rules, err := exec.Command("iptables", "-w", "5", "-t", "mangle", "-S", "FORWARD").Output()
	if err != nil {
		return fmt.Errorf("listing mangle FORWARD: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(rules)), "\n")
	jump := "-A FORWARD -j " + policyChain
	if len(lines) > 1 && lines[1] == jump {
		return nil // "-P FORWARD ACCEPT" first, then our jump
	}
	for _, l := range lines {
		if l == jump {
			_ = run("iptables", "-w", "5", "-t", "mangle", "-D", "FORWARD", "-j", policyChain)
		}
	}
	return run("iptables", "-w", "5", "-t", "mangle", "-I", "FORWARD", "1", "-j", policyChain)
}

// runNetworkPolicies starts kube-network-policies' controller for this node; it returns when ctx
// ends or the controller stops (the caller exits then: Kubernetes restarts the agent, and the rules,
// still in place, keep new connections dropped meanwhile).
func runNetworkPolicies(ctx context.Context, cfg *rest.Config, nodeName string) error {
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	// Pods keep their identity while they may still run after a force delete (linger.go).
	pods := factory.Core().V1().Pods()
	if os.Getenv("LINGER_DELETED_PODS") != "false" {
		pods = newLingeringPodInformer(ctx, factory)
	}
	ctrl, err := networkpolicy.NewController(client,
		factory.Networking().V1().NetworkPolicies(), factory.Core().V1().Namespaces(), pods,
		// No AdminNetworkPolicy / BaselineAdminNetworkPolicy: Kubernetes 1.28 has no such CRDs, and
		// waiting for their informers would keep the queue closed forever.
		nil, nil, nil, nil,
		networkpolicy.Config{
			FailOpen: false,
			QueueID:  policyQueue,
			NodeName: nodeName,
			// The DNS race it works around was fixed in the kernel (6.12); its rule is nftables anyway.
			NetfilterBug1766Fix: false,
			NFTableName:         "kube-network-policies",
			// Keep NRI "enabled": with it disabled v0.8.0 dereferences a nil plugin for any address that
			// is not a pod's. Without an NRI socket (containerd 1.6) it only logs once.
			NRIdisabled: false,
		})
	if err != nil {
		return err
	}
	factory.Start(ctx.Done())
	return ctrl.Run(ctx)
}
