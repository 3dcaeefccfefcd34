// Command etcd is the etcd server, built from the Go module proxy so that tests and
// `make run` need no Docker and no downloaded release archive.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
