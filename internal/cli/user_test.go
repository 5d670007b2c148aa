package cli

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// saslCluster is a kfake cluster that requires SASL, with one superuser.
func saslCluster(t *testing.T) []string {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser("SCRAM-SHA-256", "admin", "admin-pw"))
	if err != nil {
		t.Fatalf("starting kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

func TestUserCreateListDelete(t *testing.T) {
	h := newHarness(t, saslCluster(t))
	auth := []string{"--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "admin", "--sasl-password", "admin-pw"}
	run := func(stdin string, args ...string) string {
		t.Helper()
		return h.mustRun(stdin, append(args, auth...)...)
	}

	if out := run("s3cret\n", "user", "create", "alice", "--password-stdin"); !strings.Contains(out, `Stored SCRAM-SHA-256 credential for user "alice"`) {
		t.Fatalf("create output: %q", out)
	}
	run("", "user", "create", "alice", "--mechanism", "SCRAM-SHA-512", "--password", "s3cret", "--iterations", "4096")

	out := run("", "user", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if strings.Join(strings.Fields(lines[0]), " ") != "USER MECHANISM ITERATIONS" {
		t.Fatalf("list header: %q", lines[0])
	}
	if !strings.Contains(out, "SCRAM-SHA-512") || findRow(lines, "alice") == nil {
		t.Fatalf("list does not show alice's two credentials:\n%s", out)
	}

	// The new user can authenticate.
	h.mustRun("", "topic", "list", "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "alice", "--sasl-password", "s3cret")

	if out := run("", "user", "delete", "alice"); !strings.Contains(out, `Deleted 2 credential(s) of user "alice"`) {
		t.Fatalf("delete output: %q", out)
	}
	if out := run("", "user", "list"); strings.Contains(out, "alice") {
		t.Fatalf("alice still listed after delete:\n%s", out)
	}
	// And can no longer.
	r := h.run("", "topic", "list", "--sasl-mechanism", "SCRAM-SHA-512", "--sasl-user", "alice", "--sasl-password", "s3cret", "--timeout", "3s")
	if r.code == ExitOK {
		t.Fatalf("deleted user still authenticates: %s", r)
	}
}

func TestUserFlagErrors(t *testing.T) {
	h := newHarness(t, []string{"127.0.0.1:1"})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "create", "bob"}, "exactly one of --password and --password-stdin"},
		{[]string{"user", "create", "bob", "--password", "x", "--mechanism", "MD5"}, `--mechanism "MD5"`},
		{[]string{"user", "create", "bob", "--password", "x", "--iterations", "100"}, "--iterations 100"},
		{[]string{"user", "list", "--sasl-mechanism", "PLAIN"}, "needs --sasl-user"},
		{[]string{"user", "list", "--sasl-mechanism", "GSSAPI", "--sasl-user", "u"}, `--sasl-mechanism "GSSAPI"`},
	} {
		r := h.run("", tc.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("spool %s: %s; want usage error mentioning %q", strings.Join(tc.args, " "), r, tc.want)
		}
	}
}
