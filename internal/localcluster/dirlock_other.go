//go:build !unix

package localcluster

// lockDir does nothing where flock is missing; a second control plane on the same
// directory then waits for etcd's lock until Start times out.
func lockDir(string) (func(), error) { return func() {}, nil }
