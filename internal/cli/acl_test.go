package cli

import (
	"strings"
	"testing"
)

func TestACLCreateListDelete(t *testing.T) {
	h := newHarness(t, saslCluster(t))
	auth := []string{"--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "admin", "--sasl-password", "admin-pw"}
	run := func(args ...string) string {
		t.Helper()
		return h.mustRun("", append(args, auth...)...)
	}
	if out := run("acl", "create", "--allow-principal", "User:alice", "--operation", "read", "--operation", "write", "--topic", "orders"); !strings.Contains(out, "Created 2 ACL(s)") {
		t.Fatalf("create: %q", out)
	}
	run("acl", "create", "--deny-principal", "User:bob", "--operation", "all", "--topic", "team-", "--resource-pattern-type", "prefixed", "--host", "10.0.0.1")
	out := run("acl", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "PRINCIPAL") || !strings.Contains(out, "10.0.0.1") || !strings.Contains(out, "PREFIXED") {
		t.Fatalf("list:\n%s", out)
	}
	if out := run("acl", "list", "--allow-principal", "User:alice"); strings.Count(out, "User:alice") != 2 || strings.Contains(out, "bob") {
		t.Fatalf("list alice:\n%s", out)
	}
	if out := run("acl", "delete", "--topic", "orders", "--operation", "write"); !strings.Contains(out, "Deleted 1 ACL(s)") {
		t.Fatalf("delete: %q", out)
	}
	if out := run("acl", "list"); strings.Contains(out, "WRITE") || !strings.Contains(out, "READ") {
		t.Fatalf("list after delete:\n%s", out)
	}
}

func TestACLFlagErrors(t *testing.T) {
	h := newHarness(t, []string{"127.0.0.1:1"})
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"acl", "create", "--operation", "read", "--topic", "t"}, "--allow-principal or --deny-principal"},
		{[]string{"acl", "create", "--allow-principal", "User:a", "--topic", "t"}, "at least one --operation"},
		{[]string{"acl", "create", "--allow-principal", "User:a", "--operation", "read"}, "give a resource"},
		{[]string{"acl", "create", "--allow-principal", "alice", "--operation", "read", "--topic", "t"}, `principal "alice"`},
		{[]string{"acl", "create", "--allow-principal", "User:a", "--operation", "fly", "--topic", "t"}, `--operation "fly"`},
		{[]string{"acl", "create", "--allow-principal", "User:a", "--operation", "read", "--topic", "t", "--resource-pattern-type", "match"}, "want literal or prefixed"},
		{[]string{"acl", "delete", "--allow-principal", "User:a"}, "give a resource"},
	} {
		r := h.run("", tc.args...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("spool %s: %s; want usage error mentioning %q", strings.Join(tc.args, " "), r, tc.want)
		}
	}
}
