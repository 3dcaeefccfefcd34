package measure

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"k8s.io/client-go/rest"
)

// FetchProfile GETs a pprof endpoint into file in the background; the returned
// channel closes when it is written (or failed, which it reports on stderr).
func FetchProfile(hc *http.Client, url, file string) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		resp, err := hc.Get(url)
		if err != nil {
			fmt.Fprintf(os.Stderr, "profile %s: %v\n", file, err)
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintf(os.Stderr, "profile %s: %s\n", file, resp.Status)
			return
		}
		f, err := os.Create(file)
		if err != nil {
			fmt.Fprintf(os.Stderr, "profile %s: %v\n", file, err)
			return
		}
		defer f.Close()
		_, _ = io.Copy(f, resp.Body)
	}()
	return done
}

// APIServerProfile fetches a CPU profile of kube-apiserver over d into file, in the
// background; cfg's user must be allowed /debug/pprof (the harnesses' administrator).
func APIServerProfile(cfg *rest.Config, d time.Duration, file string) <-chan struct{} {
	cfg = rest.CopyConfig(cfg)
	cfg.Timeout = d + 30*time.Second
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "profile %s: %v\n", file, err)
		done := make(chan struct{})
		close(done)
		return done
	}
	return FetchProfile(hc, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimSuffix(cfg.Host, "/"), int(d.Seconds())), file)
}
