// Package localcluster is the embedded control plane behind `make run`: with no
// cluster and no Docker, it runs kube-apiserver, etcd and kube-controller-manager
// (its garbage collector and namespace controller; built by hack/setup-envtest.sh) as
// child processes, with their state in a directory
// (.klaxon/ by default) so incidents survive a restart, and it installs Klaxon's
// CRDs. Apply loads manifests such as config/samples, and Sink is a local receiver
// that prints and records the notifications the controller sends.
//
// State directory layout:
//
//	Dir/etcd/               etcd's data
//	Dir/pki/                CA, API server serving certificate, admin client
//	                        certificate, service-account signing key
//	Dir/kubeconfig          admin kubeconfig (context "klaxon-local")
//	Dir/lock                flock held while a control plane runs on Dir
//	Dir/notifications.jsonl deliveries recorded by the Sink, when `make run` puts it there
//
// It runs the processes itself rather than through controller-runtime's envtest,
// which serves tests: envtest issues a new client CA on every start (a kubeconfig
// would not survive a restart) and cannot ask the kernel to stop its children when
// the parent dies. Here the CA, the keys and the port stay, so a kubeconfig written
// once keeps working, and on Linux the children never outlive a killed parent.
package localcluster
