// Command incluster asks the Kubernetes API for one path the way in-cluster clients do: the
// `kubernetes` Service from the environment, the pod's service-account token, and the
// cluster CA to verify the apiserver's certificate. tests/integration/test_node.py runs it
// inside a pod on the real node, since busybox's TLS cannot handshake with an ECDSA server.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
)

const account = "/var/run/secrets/kubernetes.io/serviceaccount/"

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: incluster /api/path")
		os.Exit(2)
	}
	token, err := os.ReadFile(account + "token")
	check(err)
	ca, err := os.ReadFile(account + "ca.crt")
	check(err)
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca) {
		check(fmt.Errorf("no certificate in %sca.crt", account))
	}
	host := net.JoinHostPort(os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT"))
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	request, err := http.NewRequest(http.MethodGet, "https://"+host+os.Args[1], nil)
	check(err)
	request.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	response, err := client.Do(request)
	check(err)
	defer response.Body.Close()
	body, err := io.ReadAll(response.Body)
	check(err)
	fmt.Printf("%d %s\n", response.StatusCode, body)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
