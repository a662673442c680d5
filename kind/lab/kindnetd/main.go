// Command kindnetd is the offline lab's build of kind's default pod network agent.
//
// kind's node image runs docker.io/kindest/kindnetd from kind's default CNI manifest. That image, and
// the nested Go module it is built from, cannot be fetched here, so the lab builds this agent under
// the same image name. It does the same jobs, driven by the same environment that kind's manifest
// sets (HOST_IP, POD_SUBNET, CONTROL_PLANE_ENDPOINT):
//
//  1. writes /etc/cni/net.d/10-kindnet.conflist for this node's podCIDR (ptp + host-local + portmap,
//     the CNI plugins kind's base image ships);
//  2. routes every other node's podCIDR via that node's InternalIP, and makes the addresses of its
//     own podCIDR that no pod holds unreachable (a connection to a pod that is gone fails at once
//     instead of timing out);
//  3. masquerades traffic from pods that leaves the pod network;
//  4. enforces NetworkPolicies with kube-network-policies' engine (netpol.go), failing closed.
//
// It talks to the API server with its service-account token (kind's ClusterRole lets it list and
// watch nodes, pods, namespaces and NetworkPolicies).
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
)

const (
	saDir       = "/var/run/secrets/kubernetes.io/serviceaccount"
	cniConfPath = "/etc/cni/net.d/10-kindnet.conflist"
	masqChain   = "KIND-MASQ-AGENT"
	resync      = 5 * time.Second
)

type nodeList struct {
	Items []struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			PodCIDR  string   `json:"podCIDR"`
			PodCIDRs []string `json:"podCIDRs"`
		} `json:"spec"`
		Status struct {
			Addresses []struct {
				Type    string `json:"type"`
				Address string `json:"address"`
			} `json:"addresses"`
		} `json:"status"`
	} `json:"items"`
}

type node struct {
	name, ip string
	cidrs    []string
}

func apiClient() (*http.Client, string, error) {
	endpoint := os.Getenv("CONTROL_PLANE_ENDPOINT")
	if endpoint == "" {
		host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
		if host == "" {
			return nil, "", fmt.Errorf("neither CONTROL_PLANE_ENDPOINT nor KUBERNETES_SERVICE_HOST is set")
		}
		endpoint = host + ":" + port
	}
	ca, err := os.ReadFile(saDir + "/ca.crt")
	if err != nil {
		return nil, "", err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	return client, "https://" + endpoint, nil
}

func listNodes(client *http.Client, base string) ([]node, error) {
	token, err := os.ReadFile(saDir + "/token") // re-read: projected tokens rotate
	if err != nil {
		return nil, err
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/nodes", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("listing nodes: HTTP %d", resp.StatusCode)
	}
	var list nodeList
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		return nil, err
	}
	nodes := make([]node, 0, len(list.Items))
	for _, item := range list.Items {
		n := node{name: item.Metadata.Name, cidrs: item.Spec.PodCIDRs}
		if len(n.cidrs) == 0 && item.Spec.PodCIDR != "" {
			n.cidrs = []string{item.Spec.PodCIDR}
		}
		for _, a := range item.Status.Addresses {
			if a.Type == "InternalIP" && !strings.Contains(a.Address, ":") {
				n.ip = a.Address
			}
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func writeCNIConfig(cidr string) error {
	conf := fmt.Sprintf(`{
  "cniVersion": "0.3.1",
  "name": "kindnet",
  "plugins": [
    {
      "type": "ptp",
      "ipMasq": false,
      "ipam": {
        "type": "host-local",
        "dataDir": "/run/cni-ipam-state",
        "routes": [{ "dst": "0.0.0.0/0" }],
        "ranges": [[{ "subnet": %q }]]
      },
      "mtu": 1500
    },
    { "type": "portmap", "capabilities": { "portMappings": true } }
  ]
}
`, cidr)
	if old, err := os.ReadFile(cniConfPath); err == nil && string(old) == conf {
		return nil
	}
	tmp := cniConfPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(conf), 0o644); err != nil {
		return err
	}
	log.Printf("writing %s for podCIDR %s", cniConfPath, cidr)
	return os.Rename(tmp, cniConfPath)
}

// ensureMasquerade keeps pod traffic to the pod network un-NATed and masquerades the rest.
func ensureMasquerade(podSubnet string) error {
	if run("iptables", "-t", "nat", "-S", masqChain) != nil {
		if err := run("iptables", "-t", "nat", "-N", masqChain); err != nil {
			return err
		}
	}
	if run("iptables", "-t", "nat", "-C", "POSTROUTING", "-m", "addrtype", "!", "--dst-type", "LOCAL", "-j", masqChain) != nil {
		if err := run("iptables", "-t", "nat", "-A", "POSTROUTING", "-m", "addrtype", "!", "--dst-type", "LOCAL", "-j", masqChain); err != nil {
			return err
		}
	}
	rules := [][]string{{"-d", podSubnet, "-j", "RETURN"}, {"-j", "MASQUERADE"}}
	for _, r := range rules {
		check := append([]string{"-t", "nat", "-C", masqChain}, r...)
		if run("iptables", check...) != nil {
			if err := run("iptables", append([]string{"-t", "nat", "-A", masqChain}, r...)...); err != nil {
				return err
			}
		}
	}
	return nil
}

func sync(client *http.Client, base, hostIP, podSubnet string) error {
	nodes, err := listNodes(client, base)
	if err != nil {
		return err
	}
	for _, n := range nodes {
		if n.ip == "" || len(n.cidrs) == 0 {
			continue
		}
		if n.ip == hostIP {
			if err := writeCNIConfig(n.cidrs[0]); err != nil {
				return err
			}
			// Each pod has its own /32 route (ptp); what is left of the podCIDR answers "unreachable".
			for _, cidr := range n.cidrs {
				if !strings.Contains(cidr, ":") {
					if err := run("ip", "route", "replace", "unreachable", cidr); err != nil {
						return err
					}
				}
			}
			continue
		}
		for _, cidr := range n.cidrs {
			if strings.Contains(cidr, ":") {
				continue
			}
			if err := run("ip", "route", "replace", cidr, "via", n.ip); err != nil {
				return err
			}
		}
	}
	if err := ensureMasquerade(podSubnet); err != nil {
		return err
	}
	return ensurePolicyRules(podSubnet)
}

// restConfig is the API server access for client-go: the control plane's own address (kube-proxy's
// Service rules may not exist yet when the network agent starts) and the service account.
func restConfig(base string) *rest.Config {
	return &rest.Config{
		Host:            base,
		BearerTokenFile: saDir + "/token",
		TLSClientConfig: rest.TLSClientConfig{CAFile: saDir + "/ca.crt"},
		QPS:             20,
		Burst:           40,
	}
}

// checkKernel says in one sentence why policies could not be enforced, if they could not.
func checkKernel() error {
	if _, err := os.Stat("/proc/net/netfilter/nfnetlink_queue"); err != nil {
		return fmt.Errorf("this kernel has no nfnetlink_queue (CONFIG_NETFILTER_NETLINK_QUEUE): NetworkPolicies cannot be enforced")
	}
	targets, err := os.ReadFile("/proc/net/ip_tables_targets")
	if err != nil || !strings.Contains(string(targets), "NFQUEUE") {
		return fmt.Errorf("this kernel has no iptables NFQUEUE target (CONFIG_NETFILTER_XT_TARGET_NFQUEUE): NetworkPolicies cannot be enforced")
	}
	return nil
}

func main() {
	log.SetFlags(log.LstdFlags | log.Lmsgprefix)
	log.SetPrefix("kindnetd(lab) ")
	hostIP, podSubnet := os.Getenv("HOST_IP"), os.Getenv("POD_SUBNET")
	if hostIP == "" || podSubnet == "" {
		log.Fatal("HOST_IP and POD_SUBNET must be set (kind's CNI manifest sets them)")
	}
	client, base, err := apiClient()
	if err != nil {
		log.Fatalf("cannot reach the API server: %v", err)
	}
	if err := checkKernel(); err != nil {
		log.Fatal(err)
	}
	// Fail closed from the start: the queue rules go in before anything can answer them.
	if err := ensurePolicyRules(podSubnet); err != nil {
		log.Fatalf("cannot install the NetworkPolicy rules: %v", err)
	}
	nodeName, err := os.Hostname()
	if err != nil {
		log.Fatalf("cannot tell this node's name: %v", err)
	}
	log.Printf("node %s (%s), pod subnet %s, API %s; NetworkPolicies enforced through NFQUEUE %d", nodeName, hostIP, podSubnet, base, policyQueue)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		err := runNetworkPolicies(ctx, restConfig(base), nodeName)
		if ctx.Err() == nil {
			// The rules stay: new pod connections on this node are dropped until the agent is back.
			log.Fatalf("the NetworkPolicy controller stopped: %v", err)
		}
	}()
	for ctx.Err() == nil {
		if err := sync(client, base, hostIP, podSubnet); err != nil {
			log.Printf("sync failed, retrying in %s: %v", resync, err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(resync):
		}
	}
	log.Printf("stopping; the NetworkPolicy rules stay in place (fail closed)")
}
