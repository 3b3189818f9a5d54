// A Go client (github.com/go-zookeeper/zk) over TLS: the library dials through a dialer this
// program gives it, which wraps the connection in TLS with a client certificate. Prints one line per
// observed fact, so that runs against two servers can be compared.
//
// Usage: gotls HOST:PORT CA_PEM CERT_PEM KEY_PEM
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/go-zookeeper/zk"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintln(os.Stderr, "usage: gotls HOST:PORT CA_PEM CERT_PEM KEY_PEM")
		os.Exit(2)
	}
	caPem, err := os.ReadFile(os.Args[2])
	if err != nil {
		fail(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPem) {
		fail(fmt.Errorf("no certificate in %s", os.Args[2]))
	}
	cert, err := tls.LoadX509KeyPair(os.Args[3], os.Args[4])
	if err != nil {
		fail(err)
	}
	cfg := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	dialer := func(network, address string, timeout time.Duration) (net.Conn, error) {
		return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, network, address, cfg)
	}
	conn, events, err := zk.Connect([]string{os.Args[1]}, 10*time.Second, zk.WithDialer(dialer), zk.WithLogInfo(false))
	if err != nil {
		fail(err)
	}
	defer conn.Close()
	deadline := time.After(20 * time.Second)
	for connected := false; !connected; {
		select {
		case e := <-events:
			if e.State == zk.StateHasSession {
				connected = true
			}
		case <-deadline:
			fail(fmt.Errorf("no session within 20 s"))
		}
	}
	fmt.Println("session established")
	p, err := conn.Create("/go-tls", []byte("over tls"), 0, zk.WorldACL(zk.PermAll))
	fmt.Println("create", p, errText(err))
	data, stat, err := conn.Get("/go-tls")
	fmt.Println("get", string(data), stat.Version, errText(err))
	stat, err = conn.Set("/go-tls", []byte("v2"), 0)
	fmt.Println("set version", stat.Version, errText(err))
	children, _, err := conn.Children("/")
	fmt.Println("children of / include /go-tls:", contains(children, "go-tls"), errText(err))
	err = conn.Delete("/go-tls", -1)
	fmt.Println("delete", errText(err))
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

func fail(err error) {
	fmt.Println("FAILED:", err)
	os.Exit(1)
}
