package main

import "net/http"

// allowedMethods is the Allow header of every endpoint: they only read.
const allowedMethods = "GET, HEAD"

// readOnly answers GET and HEAD with h and any other method with 405 Method Not Allowed,
// before h runs: a POST or a TRACE of /metrics must not start a gather.
func readOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", allowedMethods)
			http.Error(w, "method not allowed: use GET or HEAD", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}
