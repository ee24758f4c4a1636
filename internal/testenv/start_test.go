package testenv

import (
	"strings"
	"testing"
)

// A server that fails to start returns its error (with the server's reason) instead of
// panicking in the clean-up, which stops what had started.
func TestFailedStartCleansUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL (skipped under -short)")
	}
	c, err := StartPostgres(PGOptions{Conf: []string{"no_such_setting_here = 1"}})
	if err == nil {
		c.Stop()
		t.Fatal("PostgreSQL started with an unknown setting")
	}
	if c != nil {
		t.Errorf("a cluster returned with the error %v", err)
	}
	if !strings.Contains(err.Error(), "no_such_setting_here") {
		t.Errorf("error %q does not name the bad setting (the server's log should be in it)", err)
	}
}
