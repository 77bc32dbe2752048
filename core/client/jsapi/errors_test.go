package jsapi

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/jazzgo/jazz-tools/core/client"
	"github.com/jazzgo/jazz-tools/core/engine"
	"github.com/jazzgo/jazz-tools/core/identity"
	"github.com/jazzgo/jazz-tools/core/policy"
	"github.com/jazzgo/jazz-tools/core/protocol"
	"github.com/jazzgo/jazz-tools/core/query"
	"github.com/jazzgo/jazz-tools/core/schema"
	"github.com/jazzgo/jazz-tools/core/storage"
	"github.com/jazzgo/jazz-tools/core/sync"
)

func TestDescribe(t *testing.T) {
	wrap := func(err error) error { return fmt.Errorf("context: %w", err) }
	cases := []struct {
		name string
		err  error
		want ErrorBody
	}{
		{"anonymous write", wrap(&policy.AnonymousWriteDeniedError{Table: "todos", Operation: policy.Operation("insert")}),
			ErrorBody{Name: AnonymousWriteDenied, Code: "anonymous_write_denied", Table: "todos", Operation: "insert"}},
		{"policy denial", &policy.DeniedError{Table: "todos", Operation: policy.Operation("update"), Reason: "no"},
			ErrorBody{Name: PermissionDenied, Code: "permission_denied", Table: "todos", Operation: "update"}},
		{"validation", wrap(&schema.ValidationError{Table: "todos", Column: "done", Problem: "want boolean"}),
			ErrorBody{Name: Validation, Code: "validation_failed", Table: "todos", Column: "done"}},
		{"unknown table", fmt.Errorf("%w %q", schema.ErrUnknownTable, "x"), ErrorBody{Name: Validation, Code: "unknown_table"}},
		{"bad schema", wrap(schema.ErrInvalidSchema), ErrorBody{Name: Validation, Code: "invalid_schema"}},
		{"bad query", wrap(query.ErrInvalid), ErrorBody{Name: Validation, Code: "invalid_query"}},
		{"not found", wrap(engine.ErrNotFound), ErrorBody{Name: NotFound, Code: "not_found"}},
		{"exists", wrap(engine.ErrExists), ErrorBody{Name: Conflict, Code: "row_exists"}},
		{"config", fmt.Errorf("%w: appId is required", client.ErrConfig), ErrorBody{Name: Config, Code: "invalid_config"}},
		{"config wrapping a secret error", fmt.Errorf("%w: secret: %v", client.ErrConfig, identity.ErrBadSecret), ErrorBody{Name: Config, Code: "invalid_config"}},
		{"null token", client.ErrNullToken, ErrorBody{Name: Auth, Code: "null_token"}},
		{"principal changed", wrap(client.ErrPrincipalChanged), ErrorBody{Name: Auth, Code: "principal_changed"}},
		{"not external", client.ErrNotExternal, ErrorBody{Name: Auth, Code: "not_external"}},
		{"bad token", wrap(client.ErrBadToken), ErrorBody{Name: Auth, Code: "bad_token"}},
		{"hook timeout", client.ErrHookTimeout, ErrorBody{Name: Auth, Code: "hook_timeout"}},
		{"client closed", client.ErrClosed, ErrorBody{Name: Closed, Code: "closed"}},
		{"engine closed", wrap(engine.ErrClosed), ErrorBody{Name: Closed, Code: "closed"}},
		{"store closed", wrap(storage.ErrClosed), ErrorBody{Name: Closed, Code: "closed"}},
		{"storage failed", wrap(fmt.Errorf("%w: %w", storage.ErrWriteFailed, storage.ErrInjected)), ErrorBody{Name: Storage, Code: "storage_failed"}},
		{"proof expired", wrap(identity.ErrTokenExpired), ErrorBody{Name: Auth, Code: "expired"}},
		{"not local-first", wrap(identity.ErrNotLocalFirst), ErrorBody{Name: Auth, Code: "not_local_first"}},
		{"wrong audience", wrap(identity.ErrWrongAudience), ErrorBody{Name: Auth, Code: "wrong_audience"}},
		{"invalid proof", wrap(identity.ErrTokenInvalid), ErrorBody{Name: Auth, Code: "invalid"}},
		{"timeout", wrap(context.DeadlineExceeded), ErrorBody{Name: Internal, Code: "timeout"}},
		{"undecodable frame", fmt.Errorf("%w: %w", sync.ErrUndecodableFrame, protocol.ErrBadFrame), ErrorBody{Name: Internal, Code: "bad_frame"}},
		{"subscription over a budget", &sync.SubscriptionError{Sub: "s", Code: "budget_exceeded", Budget: "anonymous_subscriptions", Limit: 1}, ErrorBody{Name: Internal, Code: "budget_exceeded"}},
		{"subscription the server cannot run", &sync.SubscriptionError{Sub: "s", Code: "bad_query"}, ErrorBody{Name: Validation, Code: "bad_query"}},
		{"unknown app", wrap(sync.ErrUnknownApp), ErrorBody{Name: Sync, Code: "unknown_app"}},
		{"unreachable server", wrap(sync.ErrUnreachable), ErrorBody{Name: Sync, Code: "unreachable"}},
		{"not a jazz-tools server", wrap(sync.ErrWrongServer), ErrorBody{Name: Sync, Code: "wrong_server"}},
		{"another protocol version", wrap(sync.ErrProtocolVersion), ErrorBody{Name: Sync, Code: "protocol_version"}},
		{"no bundle published", wrap(sync.ErrNoBundle), ErrorBody{Name: Sync, Code: "no_bundle"}},
		{"bridge error", BadArgument("want a string"), ErrorBody{Name: Validation, Code: "bad_argument"}},
		{"remote denial keeps fields", &protocol.RemoteError{Body: protocol.ErrorBody{Name: protocol.NamePermissionDenied, Code: "permission_denied", Message: "m", Table: "t", Operation: "delete"}},
			ErrorBody{Name: PermissionDenied, Code: "permission_denied", Table: "t", Operation: "delete"}},
		{"remote bad change", &protocol.RemoteError{Body: protocol.ErrorBody{Name: protocol.NameBadChange, Code: "frame_too_large", Table: "t"}},
			ErrorBody{Name: Validation, Code: "frame_too_large", Table: "t"}},
		{"remote unknown", &protocol.RemoteError{Body: protocol.ErrorBody{Name: "Weird", Code: ""}}, ErrorBody{Name: Internal, Code: "rejected"}},
		{"anything else", errors.New("boom"), ErrorBody{Name: Internal, Code: "internal"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Describe(c.err)
			if got.Message != c.err.Error() {
				t.Errorf("message = %q, want the error text %q", got.Message, c.err.Error())
			}
			got.Message = ""
			if got != c.want {
				t.Errorf("Describe = %+v, want %+v", got, c.want)
			}
		})
	}
}

// TestDescribe_NamesAreTheContract keeps every name Describe can produce
// inside CoreErrorName of bindings/js/src/core.d.ts.
func TestDescribe_NamesAreTheContract(t *testing.T) {
	allowed := map[string]bool{AnonymousWriteDenied: true, PermissionDenied: true, Validation: true, NotFound: true,
		Conflict: true, Config: true, Auth: true, Closed: true, Storage: true, Sync: true, Internal: true}
	for _, s := range sentinels {
		if !allowed[s.name] || s.code == "" {
			t.Errorf("sentinel %v maps to %q/%q", s.err, s.name, s.code)
		}
	}
	if b := Panic("x"); !allowed[b.Name] || b.Code != "panic" {
		t.Errorf("Panic = %+v", b)
	}
}
