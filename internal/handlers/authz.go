package handlers

// Authorization (ACLs) is enforced here, from the dispatch point, and not
// in the API handlers: every API has one rule in authzRules (authz_rules.go)
// that says what the request needs, removes the items the principal may not
// touch before the handler sees the request, and adds their errors to the
// handler's response. The handlers stay unaware of ACLs, so with no
// authorizer configured every request is served exactly as before.

import (
	"context"
	"log/slog"
	"net"
	"reflect"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/spool-mq/spool/internal/auth"
)

// authzRule decides one request. It may edit req in place (drop denied
// items) and returns:
//   - deny: a complete answer; the handler is not called;
//   - finish: called with the handler's response (nil for acks=0
//     produces) to add the denied items' errors; nil when nothing was
//     denied;
//   - empty: every item was denied, so the handler is not called and
//     finish gets req.ResponseKind() (a fetch must not long-poll on
//     nothing).
type authzRule func(a *authz, req kmsg.Request) (deny kmsg.Response, finish func(kmsg.Response) kmsg.Response, empty bool)

// authz is one request's authorization: who asks, from where, against
// which ACLs (one image for the whole request).
type authz struct {
	az        *auth.Authorizer
	acls      *auth.ACLSet
	principal string
	host      string
	h         *Handlers
	// denied is the first resource refused, for the audit line.
	denied *auth.Request
}

// allowed answers one check and remembers the first refusal.
func (a *authz) allowed(op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	r := auth.Request{Principal: a.principal, Host: a.host, Operation: op, ResourceType: rt, ResourceName: name}
	if a.az.Authorize(a.acls, r) {
		return true
	}
	if a.denied == nil {
		a.denied = &r
	}
	return false
}

func (a *authz) topic(op kmsg.ACLOperation, name string) bool {
	return a.allowed(op, kmsg.ACLResourceTypeTopic, name)
}

func (a *authz) group(op kmsg.ACLOperation, name string) bool {
	return a.allowed(op, kmsg.ACLResourceTypeGroup, name)
}

func (a *authz) cluster(op kmsg.ACLOperation) bool {
	return a.allowed(op, kmsg.ACLResourceTypeCluster, auth.ClusterResourceName)
}

// quiet answers a check without counting it as a refusal: for checks
// whose failure only hides something (Metadata listing all topics,
// ListGroups without cluster DESCRIBE), as in Kafka.
func (a *authz) quiet(op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	return a.az.Authorize(a.acls, auth.Request{Principal: a.principal, Host: a.host, Operation: op, ResourceType: rt, ResourceName: name})
}

// canCreateTopic is CREATE on the cluster or on the topic.
func (a *authz) canCreateTopic(name string) bool {
	return a.quiet(kmsg.ACLOperationCreate, kmsg.ACLResourceTypeCluster, auth.ClusterResourceName) || a.topic(kmsg.ACLOperationCreate, name)
}

// alwaysAllowed are the APIs a client needs before it can authenticate.
var alwaysAllowed = map[int16]bool{17: true, 18: true, 36: true}

// authorize runs the request's rule and serves it (or not).
func (h *Handlers) authorize(ctx context.Context, a api, rc *reqContext, req kmsg.Request) kmsg.Response {
	key := req.Key()
	// Cluster-internal connections (replica fetches and the like) are
	// authenticated by the cluster port's own handshake.
	if alwaysAllowed[key] || rc.conn == nil || rc.conn.PeerNode >= 0 {
		return a.serve(h, ctx, rc, req)
	}
	az := &authz{az: h.Authorizer, acls: h.image().ACLs(), principal: auth.PrincipalOf(rc.conn.Principal, rc.conn.TLSSubject),
		host: remoteHost(rc.conn.Remote), h: h}
	rule, ok := authzRules[key]
	if !ok {
		rule = requireCluster(kmsg.ACLOperationAlter)
	}
	deny, finish, empty := rule(az, req)
	if az.denied != nil {
		h.audit.log(h.Logger, az, key)
	}
	switch {
	case deny != nil:
		return deny
	case empty:
		return finish(req.ResponseKind())
	}
	resp := a.serve(h, ctx, rc, req)
	if finish != nil {
		return finish(resp)
	}
	return resp
}

// remoteHost is the client's IP as ACL hosts name it.
func remoteHost(addr net.Addr) string {
	if addr == nil {
		return ""
	}
	if ta, ok := addr.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	host, _, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	return host
}

// requireCluster is the rule of APIs that need op on the cluster, and the
// default for APIs without a rule of their own (ALTER: an API nobody
// thought about is closed, not open).
func requireCluster(op kmsg.ACLOperation) authzRule {
	return func(a *authz, req kmsg.Request) (kmsg.Response, func(kmsg.Response) kmsg.Response, bool) {
		if a.cluster(op) {
			return nil, nil, false
		}
		return withErrorCode(req.ResponseKind(), kerr.ClusterAuthorizationFailed.Code), nil, false
	}
}

// withErrorCode sets resp's top-level ErrorCode, when its type has one.
// Reflection keeps the default rule generic over every response type;
// responses with only per-item codes get their own rule.
func withErrorCode(resp kmsg.Response, code int16) kmsg.Response {
	v := reflect.ValueOf(resp).Elem()
	if f := v.FieldByName("ErrorCode"); f.IsValid() && f.Kind() == reflect.Int16 && f.CanSet() {
		f.SetInt(int64(code))
	}
	return resp
}

// auditLog writes one line per denied request, at most auditPerSecond a
// second: a client retrying a denied request in a loop must not flood
// the log. Lines dropped are counted in the next one written.
type auditLog struct {
	mu      sync.Mutex
	window  time.Time
	written int
	dropped int
}

const auditPerSecond = 20

func (l *auditLog) log(logger *slog.Logger, a *authz, key int16) {
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.window) >= time.Second {
		l.window, l.written = now, 0
	}
	if l.written >= auditPerSecond {
		l.dropped++
		l.mu.Unlock()
		return
	}
	l.written++
	dropped := l.dropped
	l.dropped = 0
	l.mu.Unlock()
	if logger == nil {
		return
	}
	d := a.denied
	logger.Info("authorization denied", "principal", d.Principal, "host", d.Host, "api_key", key,
		"operation", d.Operation.String(), "resource_type", d.ResourceType.String(), "resource", d.ResourceName,
		"suppressed_before", dropped)
}
